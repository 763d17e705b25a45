"""Launcher: starts workers and knows which are alive, so ingest can scale from zero."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class WorkerBeat:
    """A worker's latest heartbeat. ``busy`` is whether it holds any leased messages."""

    worker_id: str
    at: datetime
    busy: bool = False
    jobs_done: int = 0


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
    def goodbye(self, worker_id: str) -> None:
        """The worker is exiting: stop counting it as alive, even if a late beat for the
        same id arrives afterwards (worker ids are never reused)."""

    @abstractmethod
    def alive(self, *, max_age_s: float) -> list[WorkerBeat]:
        """Workers with a recent heartbeat."""
