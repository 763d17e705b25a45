"""Scaling workers from zero: GPU cost follows the traffic.

After every publish, on ``POST /v1/warm`` (a user has started choosing a photo) and on
the periodic ``POST /v1/scale``, ingest asks for ``ceil(backlog / jobs_per_worker)``
workers (at least one when warming, at most ``max_workers``) and starts the difference
between that and the workers that are alive or already on their way. "On their way" is
read from the launcher's start records inside its scale-up lease, so a burst of uploads
starts workers once per capacity step, not once per upload. Workers exit on their own
after ``idle_exit_s`` without work.

Workers that stopped on a fatal error (a model that cannot load, a store refusing access)
said so in their goodbye. After the n-th such failure within the backoff's cap, no worker
is started for ``failure_backoff.delay(n)`` seconds after the latest one, so a broken
deployment is retried ever more slowly instead of relaunched on every upload.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cutout.backends import Backends
from cutout.job import utcnow
from cutout.policy import Retry
from cutout.ports.launcher import StartRecord, WorkerBeat, WorkerFailure
from cutout.settings import Settings

log = logging.getLogger(__name__)

#: A worker beats every 5 s; three missed beats and it no longer counts as alive.
HEARTBEAT_MAX_AGE_S = 15.0


@dataclass(frozen=True)
class ScalePolicy:
    jobs_per_worker: int
    max_workers: int
    start_window_s: float
    failure_backoff: Retry = field(default_factory=lambda: Retry(30.0, 900.0))

    @classmethod
    def from_settings(cls, settings: Settings) -> ScalePolicy:
        return cls(
            jobs_per_worker=settings.jobs_per_worker,
            max_workers=settings.max_workers,
            start_window_s=settings.start_window_s,
            failure_backoff=Retry.for_worker_failures(settings),
        )

    def backoff_left(self, failures: Sequence[WorkerFailure], now: datetime) -> float:
        """Seconds before workers may be started again, after these recent failures."""
        if not failures:
            return 0.0
        latest = max(f.at for f in failures)
        wait = self.failure_backoff.delay(len(failures))
        return max(0.0, wait - (now - latest).total_seconds())

    def desired(self, backlog: int, *, warm: bool = False) -> int:
        wanted = math.ceil(backlog / self.jobs_per_worker)
        return min(self.max_workers, max(wanted, 1 if warm else 0))


def workers_to_start(
    want: int,
    alive: Sequence[WorkerBeat],
    records: Sequence[StartRecord],
    arrivals: Sequence[datetime] = (),
) -> int:
    """How many to start so that alive + on-their-way reaches ``want``.

    A requested start counts as on its way until a worker whose process started after
    the request has arrived (matched oldest first) or the record leaves the window.
    ``arrivals`` are the start times of every worker seen in the window, gone ones
    included: a worker that came, served and exited fulfilled its start, so a job
    queued after it left starts a new one instead of waiting out the window.
    """
    arrived = sorted({*arrivals, *(b.started_at for b in alive if b.started_at is not None)})
    pending = 0
    for record in records:
        for _ in range(record.count):
            match = next((i for i, t in enumerate(arrived) if t >= record.at), None)
            if match is None:
                pending += 1
            else:
                arrived.pop(match)
    return max(0, want - len(alive) - pending)


@dataclass(frozen=True)
class ScaleResult:
    backlog: int
    alive: int
    wanted: int
    started: int
    held_back_s: float = 0.0  # a fatal worker failure holds starts back this much longer

    def to_dict(self) -> dict[str, int]:
        return {
            "backlog": self.backlog,
            "alive": self.alive,
            "wanted": self.wanted,
            "started": self.started,
        }


class Scaler:
    def __init__(self, backends: Backends, policy: ScalePolicy) -> None:
        self._backends = backends
        self._policy = policy

    def ensure(self, *, warm: bool = False) -> ScaleResult:
        """Start the workers the backlog needs (one at least, when ``warm``)."""
        launcher = self._backends.launcher
        alive = launcher.alive(max_age_s=HEARTBEAT_MAX_AGE_S)
        backlog = sum(self._backends.queue.depth().values())
        want = self._policy.desired(backlog, warm=warm)
        started = 0
        held_back = self._held_back() if want > len(alive) else 0.0
        if want > len(alive) and not held_back:
            window_s = self._policy.start_window_s
            arrivals = launcher.arrivals(since=utcnow() - timedelta(seconds=window_s))
            started = launcher.claim_starts(
                lambda records: workers_to_start(want, alive, records, arrivals),
                window_s=window_s,
            )
        if started:
            log.info(
                "starting %d worker(s): backlog %d, alive %d, want %d",
                started,
                backlog,
                len(alive),
                want,
                extra={"fields": {"backlog": backlog, "alive": len(alive), "started": started}},
            )
            launcher.start(started)
        return ScaleResult(
            backlog=backlog, alive=len(alive), wanted=want, started=started, held_back_s=held_back
        )

    def _held_back(self) -> float:
        cap = self._policy.failure_backoff.cap_s
        failures = self._backends.launcher.failures(max_age_s=cap) if cap > 0 else []
        left = self._policy.backoff_left(failures, utcnow())
        if left:
            log.warning(
                "not starting workers for %.0f s more: %d recent worker failure(s), the last: %s",
                left,
                len(failures),
                failures[0].reason,
                extra={"fields": {"failures": len(failures), "held_back_s": round(left, 1)}},
            )
        return left
