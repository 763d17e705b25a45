"""Worker parameters taken from a deployment's own records (what ``cutout report`` reads):
start-up times from the worker lives, service times from the jobs.

- ready: each worker's ``started`` → ``ready`` (the model load);
- launch: each worker's ``started`` minus the time its launcher asked for it (recorded in
  its life by both launchers); for a life without it, minus the latest job submitted
  before it (an estimate: a burst that goes on while the worker starts makes it short);
  the median is used;
- service per batch: ``service_seconds`` of the jobs that were not in a first batch (a
  first batch also waits for the model), fitted as ``base + per_image * batch_size`` by
  least squares (``per_image`` 0 when every batch had one size).
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Sequence

import numpy as np

from cutout import metrics
from cutout.errors import InvalidInput
from cutout.job import Job
from cutout.worker_life import WorkerLife
from worker.plan.sim import Fleet, Startup


def startup_samples(jobs: Sequence[Job], lives: Sequence[WorkerLife]) -> Startup:
    submitted = sorted(metrics.submitted_at(j) for j in jobs)
    ready, launch = [], []
    for life in lives:
        if life.ready is not None:
            ready.append((life.ready - life.started).total_seconds())
        if life.requested is not None:
            launch.append((life.started - life.requested).total_seconds())
            continue
        before = bisect.bisect_left(submitted, life.started)
        if before:
            launch.append((life.started - submitted[before - 1]).total_seconds())
    if not ready or not launch:
        raise InvalidInput("the measured records hold no worker start to learn from")
    return Startup(launch_s=(float(np.median(launch)),), ready_s=tuple(ready))


def service_fit(jobs: Sequence[Job]) -> tuple[float, float]:
    """``(base_s, per_image_s)`` of the warm batches' service seconds."""
    points = [
        (float(j.timings.stages.get("batch_size", 1)), took)
        for j in jobs
        if j.worker is not None
        and not j.worker.cold_start
        and (took := metrics.service_seconds(j)) is not None
    ]
    if not points:
        raise InvalidInput("the measured records hold no warm job to learn service times from")
    sizes = np.array([size for size, _ in points])
    seconds = np.array([s for _, s in points])
    if np.ptp(sizes) == 0:
        return float(np.mean(seconds)), 0.0
    per_image, base = np.polyfit(sizes, seconds, 1)
    return max(float(base), 0.0), max(float(per_image), 0.0)


def measured_fleet(fleet: Fleet, jobs: Sequence[Job], lives: Sequence[WorkerLife]) -> Fleet:
    """``fleet`` with its start-up and service times replaced by the measured ones."""
    base, per_image = service_fit(jobs)
    return dataclasses.replace(
        fleet,
        startup=startup_samples(jobs, lives),
        service_base_s=base,
        service_per_image_s=per_image,
    )
