"""Worker parameters taken from a deployment's own records (what ``cutout report`` reads):
start-up times from the worker lives, service times from the jobs.

- ready: each worker's ``started`` → ``ready`` (the model load);
- launch: each worker's ``started`` minus the time its launcher asked for it (recorded in
  its life by both launchers), every sample kept; only when no life records it, the
  median of ``started`` minus the latest job submitted before it (an estimate: a burst
  that goes on while the worker starts makes it short);
- service per batch: the device time the worker records for each job's batch (the
  ``segment`` stage, which leaves out any wait for the model), fitted as ``base +
  per_image * batch_size`` by least squares (``per_image`` 0 when every batch had one
  size). Not ``service_seconds`` (claimed → finished): with two batches in flight that
  also counts the wait for the other batch's turn on the device, which the simulation
  models itself (the first reality check counted it twice: simulated P95 7.2 s, real 4.4);
- prepare: the mean of each job's ``fetch`` + ``decode`` + ``preview`` stages (photos of a
  batch are decoded together in a pool, so this is an estimate for one batch's);
- render: the mean of each job's ``render`` stage (compose, effects, encode, store), which
  the worker runs job after job once the batch has left the device.
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
    ready, launch, estimated = [], [], []
    for life in lives:
        if life.ready is not None:
            ready.append((life.ready - life.started).total_seconds())
        if life.requested is not None:
            launch.append((life.started - life.requested).total_seconds())
            continue
        before = bisect.bisect_left(submitted, life.started)
        if before:
            estimated.append((life.started - submitted[before - 1]).total_seconds())
    launch_s = tuple(launch) or ((float(np.median(estimated)),) if estimated else ())
    if not ready or not launch_s:
        raise InvalidInput("the measured records hold no worker start to learn from")
    return Startup(launch_s=launch_s, ready_s=tuple(ready))


def service_fit(jobs: Sequence[Job]) -> tuple[float, float]:
    """``(base_s, per_image_s)`` of the batches' device seconds."""
    points = [
        (float(j.timings.stages.get("batch_size", 1)), took)
        for j in jobs
        if (took := j.timings.stages.get("segment")) is not None
    ]
    if not points:
        raise InvalidInput("the measured records hold no segmented job to learn service from")
    sizes = np.array([size for size, _ in points])
    seconds = np.array([s for _, s in points])
    if np.ptp(sizes) == 0:
        return float(np.mean(seconds)), 0.0
    per_image, base = np.polyfit(sizes, seconds, 1)
    return max(float(base), 0.0), max(float(per_image), 0.0)


def mean_stage(jobs: Sequence[Job], *names: str) -> float:
    """The mean over the jobs that recorded ``names[0]`` of the sum of those stages."""
    sums = [
        sum(stages.get(name, 0.0) for name in names)
        for j in jobs
        if names[0] in (stages := j.timings.stages)
    ]
    return float(np.mean(sums)) if sums else 0.0


def measured_fleet(fleet: Fleet, jobs: Sequence[Job], lives: Sequence[WorkerLife]) -> Fleet:
    """``fleet`` with its start-up and service times replaced by the measured ones."""
    base, per_image = service_fit(jobs)
    return dataclasses.replace(
        fleet,
        startup=startup_samples(jobs, lives),
        service_base_s=base,
        service_per_image_s=per_image,
        prepare_s=mean_stage(jobs, "fetch", "decode", "preview"),
        render_s=mean_stage(jobs, "render"),
    )
