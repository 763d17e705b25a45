"""Launcher: starts workers and knows which are alive, so ingest can scale from zero."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from cutout.worker_life import WorkerLife

#: The most worker lives one :meth:`Launcher.lives` call returns (callers page on).
MAX_LIVES_LIMIT = 1000


def check_lives_limit(limit: int) -> None:
    """:class:`ValueError` unless ``limit`` is 1 to :data:`MAX_LIVES_LIMIT`."""
    if not 1 <= limit <= MAX_LIVES_LIMIT:
        raise ValueError(f"limit must be 1 to {MAX_LIVES_LIMIT}, not {limit}")


@dataclass(frozen=True)
class WorkerBeat:
    """A worker's latest heartbeat. ``busy`` is whether it holds any leased messages;
    ``started_at`` is when its process started (scaling uses it to tell which requested
    starts have arrived)."""

    worker_id: str
    at: datetime
    busy: bool = False
    jobs_done: int = 0
    started_at: datetime | None = None


@dataclass(frozen=True)
class WorkerFailure:
    """A worker stopped on a fatal error at ``at``; ``reason`` is ``code: message``."""

    worker_id: str
    at: datetime
    reason: str


@dataclass(frozen=True)
class StartRecord:
    """``count`` workers were requested at ``at``."""

    at: datetime
    count: int


class Launcher(ABC):
    """Guarantees: :meth:`start` returns once the start is requested (not once workers run);
    :meth:`beat` is cheap enough to call every few seconds; :meth:`alive` only lists
    workers whose last beat is at most ``max_age_s`` old and that have not said goodbye."""

    @abstractmethod
    def start(self, count: int) -> None:
        """Ask for ``count`` more workers."""

    @abstractmethod
    def beat(self, beat: WorkerBeat) -> None:
        """Record a worker's heartbeat."""

    @abstractmethod
    def goodbye(self, worker_id: str, *, failure: str | None = None) -> None:
        """The worker is exiting: stop counting it as alive, even if a late beat for the
        same id arrives afterwards (worker ids are never reused). ``failure`` says why it
        stopped on a fatal error; :meth:`failures` lists it from then on."""

    @abstractmethod
    def failures(self, *, max_age_s: float) -> list[WorkerFailure]:
        """Workers that said goodbye with a failure in the last ``max_age_s`` seconds,
        newest first: what the scaler backs off from."""

    @abstractmethod
    def record_life(self, life: WorkerLife) -> None:
        """Write the lasting record of a worker's life, replacing the one with its
        ``worker_id`` (the worker rewrites it as it goes). It is kept as long as jobs
        are: ``job_ttl_days`` after the worker started."""

    @abstractmethod
    def lives(
        self,
        since: datetime,
        until: datetime,
        *,
        limit: int = MAX_LIVES_LIMIT,
        after: WorkerLife | None = None,
    ) -> list[WorkerLife]:
        """The records of workers started in ``[since, until)``, oldest first (ties:
        ``worker_id``), at most ``limit`` (1 to :data:`MAX_LIVES_LIMIT`), strictly after
        ``after`` in that order (the last record of the previous page)."""

    @abstractmethod
    def alive(self, *, max_age_s: float) -> list[WorkerBeat]:
        """Workers with a recent heartbeat."""

    @abstractmethod
    def arrivals(self, *, since: datetime) -> list[datetime]:
        """Process start times of the workers that started at or after ``since`` and beat
        at least once, alive or gone: the starts that were fulfilled."""

    @abstractmethod
    def claim_starts(
        self, decide: Callable[[Sequence[StartRecord]], int], *, window_s: float
    ) -> int:
        """The scale-up lease. Atomically: read the start records of the last
        ``window_s`` seconds, call ``decide`` with them (oldest first), and if it returns
        n > 0 append a record of n starts made now. Returns n. Concurrent callers are
        serialised (a transaction), so each decides knowing the others' starts: a burst
        of uploads starts workers once, not once per upload. ``decide`` may run more than
        once if the transaction retries, so it must be pure."""
