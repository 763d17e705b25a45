"""The built-in scenario ``legacy``: the old service's measured traffic (8 hours of Cloud
Run logs, issue 13) for the old design and for cutout's, side by side.

The inputs are the analysis's figures, unchanged: per 8 hours 18 warm-ups, 16 uploads,
9 process-with-effects calls and 2 store calls, each a Poisson stream at its measured
rate; the old design served every request synchronously on a GPU instance of its own
(one request at a time), an instance stayed up 10-15 minutes (uniform) after its last
request, and a request that found no idle instance waited a 40.9 s cold start. Service
times are the measured averages: process 35.0 s, store 0.52 s, upload 0.24 s, and a
warm-up that finds a warm instance the median request, 0.43 s. (The averages of process
calls and warm-ups include their cold starts; the old design's simulated cold starts
come on top, which can only push its latencies up.)

cutout on the same traffic: the process calls are jobs (standard tier), the warm-ups are
``POST /v1/warm`` calls, uploads and store calls are requests no worker sees; workers
start in :data:`OURS_STARTUP` and serve a photo in :data:`OURS_SERVICE`. Those two are
given, not measured on a GPU here (Cloud Run job start plus image: an estimate; model
ready after spawn: worker/MODEL.md's 4.1 s); ``cutout plan`` takes measured ones from a
deployment's records (``--measured-since``).
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

from cutout.costs import per_thousand, worker_cost_usd
from cutout.job import Priority
from cutout.prices import PriceTable
from worker.plan.records import SimJob, SimRun, SimWorker, at
from worker.plan.sim import Fleet, Startup
from worker.plan.traffic import Traffic

HOURS = 8.0
#: Requests per 8 hours and their warm service seconds, as measured.
OLD_REQUESTS = {"warm": (18, 0.43), "upload": (16, 0.24), "process": (9, 35.0), "store": (2, 0.52)}
OLD_COLD_START_S = 40.9
OLD_IDLE_S = (600.0, 900.0)
#: The old service's measured figures, for the side-by-side comparison.
MEASURED = {"p50_s": 0.43, "p95_s": 76.17, "p99_s": 96.91, "cold_start_share": 13 / 45}

OURS_STARTUP = Startup(launch_s=(20.0,), ready_s=(4.1,))
OURS_SERVICE = (3.0, 1.0)  # seconds per batch: base + per photo


def legacy_traffic() -> Traffic:
    """cutout's view of the old traffic: process calls are jobs, warm-ups warm calls."""
    per_hour = {kind: count / HOURS for kind, (count, _) in OLD_REQUESTS.items()}
    return Traffic(
        jobs_per_hour={Priority.STANDARD: per_hour["process"]},
        hours=HOURS,
        warms_per_hour=per_hour["warm"],
        requests_per_hour=per_hour["upload"] + per_hour["store"],
    )


def ours_fleet(**settings: Any) -> Fleet:
    base, per_image = OURS_SERVICE
    return Fleet(
        startup=OURS_STARTUP, service_base_s=base, service_per_image_s=per_image, **settings
    )


@dataclass
class _Instance:
    record: SimWorker
    free_at: float
    idle_until: float


@dataclass
class OldDesign:
    """One synchronous request per instance; an idle instance is reused (the one idle
    longest: Cloud Run's choice is unspecified), else one is started."""

    seed: int
    env: simpy.Environment = field(default_factory=simpy.Environment)
    _instances: list[_Instance] = field(default_factory=list)
    _requests: list[SimJob] = field(default_factory=list)

    def run(self) -> SimRun:
        rng = np.random.default_rng(self.seed)
        arrivals = sorted(
            (float(t), kind)
            for kind, (count, _) in OLD_REQUESTS.items()
            for t in rng.uniform(0, HOURS * 3600, rng.poisson(count))
        )
        self.env.process(self._serve_all(arrivals, rng))
        self.env.run()
        return SimRun(self._requests, [i.record for i in self._instances], end_s=self.env.now)

    def _serve_all(
        self, arrivals: list[tuple[float, str]], rng: np.random.Generator
    ) -> Generator[Any, Any, None]:
        for t, kind in arrivals:
            yield self.env.timeout(t - self.env.now)
            self._serve(kind, rng)
        last = max((i.idle_until for i in self._instances), default=self.env.now)
        yield self.env.timeout(last - self.env.now)
        for instance in self._instances:
            instance.record.ended = instance.idle_until

    def _serve(self, kind: str, rng: np.random.Generator) -> None:
        now = self.env.now
        idle = [i for i in self._instances if i.free_at <= now < i.idle_until]
        cold = not idle
        if cold:
            record = SimWorker(
                id=f"old{len(self._instances)}", started=now, ready=now + OLD_COLD_START_S
            )
            instance = _Instance(record, free_at=record.ready, idle_until=math.inf)
            self._instances.append(instance)
        else:
            instance = min(idle, key=lambda i: i.free_at)
        start = max(now, instance.free_at)
        finished = start + OLD_REQUESTS[kind][1]
        instance.free_at = finished
        instance.idle_until = finished + float(rng.uniform(*OLD_IDLE_S))
        instance.record.busy_seconds += finished - start
        instance.record.jobs_served += 1
        instance.record.first_job = instance.record.first_job or start
        instance.record.end_reason = "idle"
        job = SimJob(
            id=f"r{len(self._requests)}",
            tier=Priority.STANDARD,
            submitted=now,
            started=start,
            finished=finished,
            worker=instance.record.id,
            cold=cold,
            kind=kind,
        )
        self._requests.append(job)


def old_summary(run: SimRun, prices: PriceTable) -> dict[str, Any]:
    """The summary over every request (as the old analysis measured), with cost as the
    old design's only cost, its GPU instances, per 1000 process calls (photos)."""
    summary = run.summary(prices)
    photos = sum(j.kind == "process" for j in run.jobs)
    until = at(run.end_s)
    assert until is not None
    cost = worker_cost_usd(run.records[1], until, prices)
    summary.update(
        photos=photos,
        cost_usd=cost,
        cost_per_1000_photos_usd=per_thousand(cost, photos),
        cost_per_1000_requests_usd=per_thousand(cost, len(run.jobs)),
    )
    return summary
