"""StatusStore: the single source of truth for jobs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable

from cutout.job import EffectResult, ErrorInfo, Job, JobState, Rendition

#: Changes a transition applies along with the new state.
Mutation = Callable[[Job], None]


class StatusStore(ABC):
    """Guarantees every adapter keeps:

    - :meth:`create` is atomic and fails with :class:`~cutout.errors.Conflict` if the id
      exists, so a derived id (idempotency keys) dedupes concurrent creates.
    - :meth:`transition` is a compare-and-set: it applies only if the stored state is one of
      ``expected``, and checks the move against the contract's legal transitions.
    - :meth:`record_result` merges one effect's result without losing a concurrent
      writer's result for another effect.
    - Every write sets ``updated_at``; readers never see a half-written job.
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
        it). Raises :class:`~cutout.errors.Conflict` if the state was something else
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
        """Merge one effect's result (or its error: exactly one of the two) into the job,
        atomically. A full result goes into ``results`` and replaces an earlier error for
        that effect; an error never replaces a stored full result (a failed redelivery must
        not hide a finished result). A display result goes into ``displays`` and touches
        nothing else; errors are about the effect, so they always come with ``full``."""

    @abstractmethod
    def find(
        self,
        *,
        state: JobState | None = None,
        client_key: str | None = None,
        batch_id: str | None = None,
        limit: int = 100,
    ) -> list[Job]:
        """Jobs matching every given filter, newest ``created_at`` first, at most
        ``limit`` (at least 1)."""


def check_record(
    result: EffectResult | None, error: ErrorInfo | None, rendition: Rendition
) -> None:
    """The arguments :meth:`StatusStore.record_result` accepts, checked for every adapter."""
    if (result is None) == (error is None):
        raise ValueError("record_result needs exactly one of result and error")
    if error is not None and rendition is not Rendition.FULL:
        raise ValueError("an effect's error is recorded with the full rendition")
