"""The simulation's records, and their translation into the records ``cutout report``
reads (:class:`~cutout.job.Job`, :class:`~cutout.worker_life.WorkerLife`), so one
:func:`cutout.summary.summarize` computes the metrics of both. Simulated seconds are
offsets from :data:`T0`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cutout.job import (
    EffectRequest,
    EffectResult,
    InputInfo,
    Job,
    JobState,
    Priority,
    Timings,
    WorkerInfo,
)
from cutout.prices import PriceTable
from cutout.summary import summarize
from cutout.worker_life import WorkerLife

T0 = datetime(2026, 1, 1, tzinfo=UTC)
#: What a simulated photo weighs, for the per-request costs (storage, Pub/Sub).
INPUT_BYTES = 3_000_000
RESULT_BYTES = 600_000


def at(seconds: float | None) -> datetime | None:
    return None if seconds is None else T0 + timedelta(seconds=seconds)


@dataclass
class SimJob:
    id: str
    tier: Priority
    submitted: float
    started: float | None = None
    finished: float | None = None
    worker: str | None = None
    cold: bool = False
    kind: str = "job"  # the old design's request kind (warm, upload, process, store)

    def record(self) -> Job:
        finished = at(self.finished)
        return Job(
            id=self.id,
            state=JobState.DONE if finished else JobState.QUEUED,
            priority=self.tier,
            input=InputInfo(
                key="uploads/sim",
                sha256="0" * 64,
                width=4000,
                height=3000,
                format="JPEG",
                bytes=INPUT_BYTES,
            ),
            effects=[EffectRequest(name="cutout")],
            results={
                "cutout": EffectResult(
                    key="results/sim.png",
                    format="png",
                    width=4000,
                    height=3000,
                    bytes=RESULT_BYTES,
                    cache_key="sim",
                    written_at=finished,
                )
            }
            if finished
            else {},
            attempts=int(self.started is not None),
            timings=Timings(
                queued_at=at(self.submitted),
                started_at=at(self.started),
                finished_at=finished,
                stages={"ingest": 0.02},
            ),
            worker=WorkerInfo(id=self.worker, cold_start=self.cold) if self.worker else None,
            created_at=at(self.submitted),
        )


@dataclass
class SimWorker:
    id: str
    started: float
    ready: float
    first_job: float | None = None
    ended: float | None = None
    busy_seconds: float = 0.0
    jobs_served: int = 0
    end_reason: str | None = None

    def record(self) -> WorkerLife:
        started = at(self.started)
        assert started is not None
        return WorkerLife(
            worker_id=self.id,
            started=started,
            ready=at(self.ready),
            first_job=at(self.first_job),
            ended=at(self.ended),
            busy_seconds=self.busy_seconds,
            jobs_served=self.jobs_served,
            end_reason=self.end_reason,
        )


@dataclass
class SimRun:
    """One simulated run: its jobs, its workers, when it ended, and the requests that
    were not jobs (warm calls, uploads, polls)."""

    jobs: list[SimJob]
    workers: list[SimWorker]
    end_s: float
    other_requests: int = 0
    records: tuple[list[Job], list[WorkerLife]] = field(init=False)

    def __post_init__(self) -> None:
        self.records = ([j.record() for j in self.jobs], [w.record() for w in self.workers])

    def summary(self, prices: PriceTable) -> dict[str, Any]:
        """:func:`cutout.summary.summarize` of the run, every request counted."""
        jobs, lives = self.records
        until = at(self.end_s)
        assert until is not None
        return summarize(
            jobs, lives, until=until, prices=prices, requests=len(jobs) + self.other_requests
        )
