"""The job lifecycle, written once: the legal state changes, the one compare-and-set every
status store applies, and the named transitions every caller uses.

::

    queued ──claim──► running ──finish──► done
       │  ▲              │ │ └──fail / finish (all effects failed)──► failed
       │  └─hand_back────┘ └──claim (redelivery after a worker died)──► running
       └──enqueue_failed / dead_letter / cancel──► failed ◄── dead_letter / cancel (running)

Each named transition below states which states it accepts and what it writes; every
write to ``timings.finished_at`` happens in :func:`apply` (when a job reaches a finished
state) and ``timings.started_at`` in :func:`claim`, nowhere else. ``cancel`` ends a job as
``failed`` with the code ``cancelled`` rather than in a state of its own: clients already
treat ``failed`` as final and read the reason from ``error.code``, so no reader changes.

Mutations may run more than once (Firestore retries a transaction that lost a race), so
each one only sets fields of the job it is handed, from values computed beforehand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cutout.codes import ErrorCode
from cutout.errors import Conflict, IllegalTransition
from cutout.job import (
    ErrorInfo,
    InputInfo,
    Job,
    JobState,
    ModelInfo,
    Preview,
    WorkerInfo,
    utcnow,
)
from cutout.metrics import submitted_at
from cutout.ports.status import Mutation, StatusStore

_Q, _R, _D, _F = JobState.QUEUED, JobState.RUNNING, JobState.DONE, JobState.FAILED

#: Every legal state change. ``running → running`` is a worker re-claiming a job whose
#: previous worker died (the queue redelivered it); ``running → queued`` is a hand-back.
LEGAL: dict[JobState, frozenset[JobState]] = {
    _Q: frozenset({_R, _F}),
    _R: frozenset({_R, _Q, _D, _F}),
    _D: frozenset(),
    _F: frozenset(),
}


@dataclass(frozen=True)
class Transition:
    """A named state change: the stored states it accepts and the state it leads to."""

    name: str
    accepts: frozenset[JobState]
    to: JobState


CLAIM = Transition("claim", frozenset({_Q, _R}), _R)
FINISH = Transition("finish", frozenset({_R}), _D)
FAIL = Transition("fail", frozenset({_R}), _F)
HAND_BACK = Transition("hand_back", frozenset({_R}), _Q)
DEAD_LETTER = Transition("dead_letter", frozenset({_Q, _R}), _F)
ENQUEUE_FAILED = Transition("enqueue_failed", frozenset({_Q}), _F)
CANCEL = Transition("cancel", frozenset({_Q, _R}), _F)
PREVIEW = Transition("preview", frozenset({_R}), _R)
TRANSITIONS = (CLAIM, FINISH, FAIL, HAND_BACK, DEAD_LETTER, ENQUEUE_FAILED, CANCEL, PREVIEW)


def check_legal(current: JobState, new: JobState) -> None:
    """Raise :class:`IllegalTransition` unless ``current → new`` is in :data:`LEGAL`."""
    if new not in LEGAL[current]:
        raise IllegalTransition(f"a {current.value} job cannot become {new.value}")


def apply(job: Job, expected: Iterable[JobState], new: JobState, mutate: Mutation | None) -> None:
    """The compare-and-set, run by every status store inside its atomic step on the job it
    just read: :class:`Conflict` unless the stored state is in ``expected`` (checked
    first), :class:`IllegalTransition` unless the move is legal, then ``mutate`` (seeing
    the old state), the new state, and ``finished_at`` when the job reaches an end."""
    allowed = frozenset(expected)
    if job.state not in allowed:
        wanted = ", ".join(sorted(s.value for s in allowed))
        raise Conflict(f"job {job.id} is {job.state.value}, expected one of: {wanted}")
    check_legal(job.state, new)
    if mutate is not None:
        mutate(job)
    job.state = new
    if new.is_finished:
        job.timings.finished_at = utcnow()


def move(
    status: StatusStore, job_id: str, transition: Transition, mutate: Mutation | None = None
) -> Job:
    """Apply a named transition through the store's compare-and-set."""
    return status.transition(job_id, transition.accepts, transition.to, mutate)


def claim(status: StatusStore, job_id: str, worker: WorkerInfo) -> Job:
    """queued | running → running: one more attempt, started now, by ``worker``."""

    def start(job: Job) -> None:
        job.attempts += 1
        job.timings.started_at = utcnow()
        job.worker = _as_recorded(worker, job)

    return move(status, job_id, CLAIM, start)


def attach_preview(status: StatusStore, job_id: str, preview: Preview) -> Job:
    """running → running: the displayable copy of the input (worker/preview.py)."""

    def attach(job: Job) -> None:
        job.preview = preview

    return move(status, job_id, PREVIEW, attach)


def _as_recorded(worker: WorkerInfo, job: Job) -> WorkerInfo:
    """``worker`` as ``job`` records it: ``warm`` when it was running before the job was
    submitted (what warming on intent buys: no start to wait for)."""
    warm = None if worker.started_at is None else worker.started_at <= submitted_at(job)
    return worker.model_copy(deep=True, update={"warm": warm})


def finish(
    status: StatusStore,
    job_id: str,
    *,
    model: ModelInfo,
    stages: Mapping[str, float],
    startup: Mapping[str, float] | None = None,
    all_failed: bool = False,
    read: InputInfo | None = None,
) -> Job:
    """running → done, with the model that served it and the stage timings (and, for a
    cold start, the model's start-up stages); running → failed with
    ``all_effects_failed`` when every effect failed (their errors are in the job).
    ``read``: an input given by reference as the worker read it (its sha256 and size)."""

    def record(job: Job) -> None:
        if read is not None:
            job.input = read.model_copy(deep=True)
        job.timings.stages.update(stages)
        job.model = model.model_copy(deep=True)
        if startup and job.worker is not None and job.worker.cold_start:
            job.worker.startup.update(startup)
        job.error = (
            ErrorInfo(code=ErrorCode.ALL_EFFECTS_FAILED, message="every effect failed")
            if all_failed
            else None
        )

    return move(status, job_id, FAIL if all_failed else FINISH, record)


def fail(
    status: StatusStore, job_id: str, error: ErrorInfo, *, stages: Mapping[str, float] | None = None
) -> Job:
    """running → failed with ``error`` (bad input: retrying cannot help)."""

    def record(job: Job) -> None:
        job.error = error
        job.timings.stages.update(stages or {})

    return move(status, job_id, FAIL, record)


def hand_back(
    status: StatusStore, job_id: str, *, error: ErrorInfo | None = None, refund: bool = False
) -> Job:
    """running → queued, for another delivery: ``error`` notes why (a retry) and is kept
    for the dead-letter message; ``refund`` gives the attempt back (the worker, not the
    job, failed: shutdown or a fatal error)."""

    def record(job: Job) -> None:
        if error is not None:
            job.error = error
        if refund:
            job.attempts = max(job.attempts - 1, 0)

    return move(status, job_id, HAND_BACK, record)


def dead_letter(status: StatusStore, job_id: str, *, deliveries: int) -> Job:
    """queued | running → failed with ``dead_lettered``, naming the attempts and the last
    error (the queue gave up on the job's message)."""

    def record(job: Job) -> None:
        last = f"; last error: {job.error.code}: {job.error.message}" if job.error else ""
        job.error = ErrorInfo(
            code=ErrorCode.DEAD_LETTERED,
            message=f"gave up after {max(deliveries, job.attempts)} attempts{last}",
        )

    return move(status, job_id, DEAD_LETTER, record)


def enqueue_failed(status: StatusStore, job_id: str, message: str) -> Job:
    """queued → failed with ``enqueue_failed``: the job's message could not be published,
    so no worker would ever see it."""
    error = ErrorInfo(code=ErrorCode.ENQUEUE_FAILED, message=message)
    return move(status, job_id, ENQUEUE_FAILED, lambda job: setattr(job, "error", error))


def cancel(status: StatusStore, job_id: str, message: str = "cancelled") -> Job:
    """queued | running → failed with ``cancelled``. A worker still running the job finds
    it finished when it records the outcome and drops it; results it already stored stay."""
    error = ErrorInfo(code=ErrorCode.CANCELLED, message=message)
    return move(status, job_id, CANCEL, lambda job: setattr(job, "error", error))
