"""Scaling workers from zero: GPU cost follows the traffic.

After every publish, on ``POST /v1/warm`` (a user has started choosing a photo) and on
the periodic ``POST /v1/scale``, ingest asks for ``ceil(backlog / jobs_per_worker)``
workers (at least one when warming, at most ``max_workers``) and starts the difference
between that and the workers that are alive or already on their way. "On their way" is
read from the launcher's start records inside its scale-up lease, so a burst of uploads
starts workers once per capacity step, not once per upload. Workers exit on their own
after ``idle_exit_s`` without work.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

from cutout.backends import Backends
from cutout.ports.launcher import StartRecord, WorkerBeat
from cutout.settings import Settings

log = logging.getLogger(__name__)

#: A worker beats every 5 s; three missed beats and it no longer counts as alive.
HEARTBEAT_MAX_AGE_S = 15.0


@dataclass(frozen=True)
class ScalePolicy:
    jobs_per_worker: int
    max_workers: int
    start_window_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> ScalePolicy:
        return cls(
            jobs_per_worker=settings.jobs_per_worker,
            max_workers=settings.max_workers,
            start_window_s=settings.start_window_s,
        )

    def desired(self, backlog: int, *, warm: bool = False) -> int:
        wanted = math.ceil(backlog / self.jobs_per_worker)
        return min(self.max_workers, max(wanted, 1 if warm else 0))


def workers_to_start(want: int, alive: Sequence[WorkerBeat], records: Sequence[StartRecord]) -> int:
    """How many to start so that alive + on-their-way reaches ``want``.

    A requested start counts as on its way until a worker whose process started after
    the request shows up alive (matched oldest first) or the record leaves the window.
    """
    arrivals = sorted(b.started_at for b in alive if b.started_at is not None)
    pending = 0
    for record in records:
        for _ in range(record.count):
            arrived = next((i for i, t in enumerate(arrivals) if t >= record.at), None)
            if arrived is None:
                pending += 1
            else:
                arrivals.pop(arrived)
    return max(0, want - len(alive) - pending)


@dataclass(frozen=True)
class ScaleResult:
    backlog: int
    alive: int
    wanted: int
    started: int

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
        if want > len(alive):
            started = launcher.claim_starts(
                lambda records: workers_to_start(want, alive, records),
                window_s=self._policy.start_window_s,
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
        return ScaleResult(backlog=backlog, alive=len(alive), wanted=want, started=started)
