"""StatusStore: the single source of truth for jobs."""

from __future__ import annotations

import base64
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from cutout.codes import ErrorCode
from cutout.errors import InvalidInput
from cutout.job import EffectResult, ErrorInfo, Job, JobState, Rendition

#: Changes a transition applies along with the new state.
Mutation = Callable[[Job], None]

#: The most jobs one :meth:`StatusStore.find_page` returns (Firestore answers a query in
#: one response up to about this many documents; the local store keeps the same bound).
MAX_FIND_LIMIT = 1000


@dataclass(frozen=True)
class JobFilter:
    """What :meth:`StatusStore.find_page` matches: every given field must be equal, and
    ``created_at`` must be in ``[since, until)`` (either bound may be open)."""

    state: JobState | None = None
    client_key: str | None = None
    batch_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class Page:
    """One page of a listing; ``next_cursor`` is ``None`` exactly when no job is left."""

    jobs: list[Job]
    next_cursor: str | None = None


@dataclass(frozen=True)
class Position:
    """Where a listing stopped: the last job's ``created_at`` and id (the sort keys)."""

    created_at: datetime
    job_id: str

    @classmethod
    def of(cls, job: Job) -> Position:
        return cls(job.created_at, job.id)

    def encode(self) -> str:
        raw = json.dumps([self.created_at.isoformat(), self.job_id]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str) -> Position:
        """The position a cursor names; :class:`~cutout.errors.InvalidInput` if it is not
        one that :meth:`encode` made (cursors come from clients)."""
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            created_at, job_id = json.loads(raw)
            position = cls(datetime.fromisoformat(created_at), str(job_id))
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"bad cursor {cursor[:40]!r}", code=ErrorCode.INVALID_QUERY) from exc
        if position.created_at.tzinfo is None:
            raise InvalidInput(f"bad cursor {cursor[:40]!r}", code=ErrorCode.INVALID_QUERY)
        return position


def check_effect_name(effect: str) -> str:
    """Effect names in results and errors are non-empty (they become field names)."""
    if not effect:
        raise InvalidInput("empty effect name", code=ErrorCode.INVALID_EFFECTS)
    return effect


class StatusStore(ABC):
    """Guarantees every adapter keeps:

    - :meth:`create` is atomic and fails with :class:`~cutout.errors.Conflict` if the id
      exists, so a derived id (idempotency keys) dedupes concurrent creates.
    - :meth:`transition` is a compare-and-set: it applies only if the stored state is one of
      ``expected``, and checks the move against the contract's legal transitions.
    - **A transition's mutation may run more than once** (Firestore retries a transaction
      that lost a race; so may any adapter). Each run starts from a fresh copy of the
      stored job, and only the last run's changes are written, so a mutation that is not
      idempotent (``attempts += 1``) still counts once. A mutation must therefore only
      change the job it is handed, with no other side effects.
    - :meth:`record_result` merges one effect's result without losing a concurrent
      writer's result for another effect. An empty effect name is
      :class:`~cutout.errors.InvalidInput`, refused before anything is read or written.
    - Listings (:meth:`find_page`, :meth:`find`) are newest ``created_at`` first, ties by
      job id descending, so pages never overlap or skip a job that stays put.
    - Every write sets ``updated_at``; readers never see a half-written job.
    - Retention: a job whose ``expire_at`` has passed may be deleted at any time after
      (Firestore's TTL policy; the local store's :meth:`sweep`, run by ``cutout up``).
      Jobs without ``expire_at`` are kept.
    """

    @abstractmethod
    def create(self, job: Job) -> Job:
        """Store a new job; :class:`~cutout.errors.Conflict` if the id is taken."""

    @abstractmethod
    def get(self, job_id: str) -> Job:
        """The job; :class:`~cutout.errors.NotFound` if there is none."""

    @abstractmethod
    def transition(
        self,
        job_id: str,
        expected: Iterable[JobState],
        new: JobState,
        mutate: Mutation | None = None,
    ) -> Job:
        """Move the job to ``new`` if its state is in ``expected``, applying ``mutate`` to
        it in the same atomic step (``mutate`` sees the old state; the new one is set after
        it; it may run more than once, each time on a fresh copy). Raises
        :class:`~cutout.errors.Conflict` if the state was something else
        (someone else moved it; checked first),
        :class:`~cutout.errors.IllegalTransition` if the contract forbids the move from the
        stored state, :class:`~cutout.errors.NotFound` if missing. If anything raises,
        nothing is written."""

    @abstractmethod
    def record_result(
        self,
        job_id: str,
        effect: str,
        result: EffectResult | None = None,
        error: ErrorInfo | None = None,
        *,
        rendition: Rendition = Rendition.FULL,
    ) -> Job:
        """Merge one effect's result (or its error: exactly one of the two, else
        ``ValueError``) into the job, atomically. A full result goes into ``results`` and
        replaces an earlier error for that effect; an error never replaces a stored full
        result (a failed redelivery must not hide a finished result). A display result
        goes into ``displays`` and touches nothing else; errors are about the effect, so
        they always come with ``full``. ``effect`` must be non-empty
        (:func:`check_effect_name`)."""

    def find(
        self,
        *,
        state: JobState | None = None,
        client_key: str | None = None,
        batch_id: str | None = None,
        limit: int = 100,
    ) -> list[Job]:
        """The first page of :meth:`find_page`: at most ``limit`` matching jobs."""
        where = JobFilter(state=state, client_key=client_key, batch_id=batch_id)
        return self.find_page(where, limit=limit).jobs

    def find_page(self, where: JobFilter, *, limit: int = 100, cursor: str | None = None) -> Page:
        """Jobs matching every field of ``where``, newest first (ties: id descending), at
        most ``limit``, starting after the job ``cursor`` names (a ``next_cursor`` from an
        earlier page; ``None``: from the newest). ``limit`` must be 1 to
        :data:`MAX_FIND_LIMIT`; a bad limit or cursor is
        :class:`~cutout.errors.InvalidInput` (code ``invalid_query``). Paging through
        ``next_cursor`` visits every job that matched throughout exactly once."""
        if not 1 <= limit <= MAX_FIND_LIMIT:
            raise InvalidInput(
                f"limit must be 1 to {MAX_FIND_LIMIT}, not {limit}", code=ErrorCode.INVALID_QUERY
            )
        after = Position.decode(cursor) if cursor is not None else None
        jobs = self._find(where, limit=limit + 1, after=after)
        if len(jobs) <= limit:
            return Page(jobs)
        return Page(jobs[:limit], Position.of(jobs[limit - 1]).encode())

    @abstractmethod
    def count_by_state(self, where: JobFilter) -> dict[JobState, int]:
        """How many jobs match ``where`` in each state (``where.state`` is ignored),
        counted by the store itself (SQLite ``COUNT``, Firestore count aggregation), never
        by reading the jobs: a 100 000-job batch costs one query per state at most."""

    @abstractmethod
    def _find(self, where: JobFilter, *, limit: int, after: Position | None) -> list[Job]:
        """At most ``limit`` matching jobs in listing order, strictly after ``after``
        (arguments already checked): each adapter's query, behind :meth:`find_page`."""


def check_record(
    result: EffectResult | None, error: ErrorInfo | None, rendition: Rendition
) -> None:
    """The arguments :meth:`StatusStore.record_result` accepts, checked for every adapter."""
    if (result is None) == (error is None):
        raise ValueError("record_result needs exactly one of result and error")
    if error is not None and rendition is not Rendition.FULL:
        raise ValueError("an effect's error is recorded with the full rendition")
