"""What a worker does with its life, kept as it happens: batches in flight, busy seconds,
jobs served, when it was ready and served its first job, so the loop's idle rule, its
heartbeat, its lasting :class:`~cutout.worker_life.WorkerLife` record and its exit log
line all read one account.

Busy seconds are the seconds with at least one batch in flight, on the loop's
(injectable, monotonic) clock; wall-clock instants (``ready``, ``first_job``) are UTC.
Every method is safe to call from the batch threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cutout.job import utcnow
from cutout.metrics import alive_seconds
from cutout.worker_life import WorkerLife


@dataclass
class LifeAccount:
    worker_id: str
    started: datetime
    clock: Callable[[], float]
    requested: datetime | None = None
    ready: datetime | None = None
    first_job: datetime | None = None
    jobs_served: int = 0
    _busy_s: float = 0.0
    _busy_from: float = 0.0
    _in_flight: int = 0
    _idle_since: float = field(default=0.0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self._idle_since = self.clock()

    def model_ready(self) -> None:
        """The model is loaded: the worker can serve from now on."""
        with self._lock:
            self.ready = self.ready or utcnow()

    def batch_began(self) -> None:
        with self._lock:
            if self._in_flight == 0:
                self._busy_from = self.clock()
            self._in_flight += 1
            self.first_job = self.first_job or utcnow()

    def batch_ended(self, finished: int) -> None:
        """A batch is over, having finished ``finished`` jobs (done or failed)."""
        with self._lock:
            self.jobs_served += finished
            self._in_flight -= 1
            now = self.clock()
            if self._in_flight == 0:
                self._busy_s += now - self._busy_from
            self._idle_since = now

    def idle_state(self) -> tuple[int, float]:
        """Batches in flight, and since when none has been (the idle rule's inputs)."""
        with self._lock:
            return self._in_flight, self._idle_since

    def busy_seconds(self) -> float:
        """Busy seconds so far, the batch stretch in progress included."""
        with self._lock:
            running = self.clock() - self._busy_from if self._in_flight else 0.0
            return self._busy_s + running

    def record(self, *, end_reason: str | None = None) -> WorkerLife:
        """The lasting record as of now; ``end_reason`` also ends it now."""
        return WorkerLife(
            worker_id=self.worker_id,
            requested=self.requested,
            started=self.started,
            ready=self.ready,
            first_job=self.first_job,
            ended=utcnow() if end_reason is not None else None,
            busy_seconds=round(max(self.busy_seconds(), 0.0), 4),
            jobs_served=self.jobs_served,
            end_reason=end_reason,
        )


def exit_fields(life: WorkerLife) -> dict[str, Any]:
    """The ``worker_exited`` log line's fields (the worker-seconds metrics read them)."""
    return {
        "event": "worker_exited",
        "worker_id": life.worker_id,
        "alive_s": round(alive_seconds(life, utcnow()), 3),
        "busy_s": life.busy_seconds,
        "jobs_served": life.jobs_served,
        "end_reason": life.end_reason or "unknown",
    }
