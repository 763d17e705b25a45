"""The named lifecycle transitions on every status-store family: each accepts exactly the
states it says, leads where it says, and stamps ``finished_at`` when a job ends."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cutout import lifecycle
from cutout.backends import Backends
from cutout.errors import Conflict
from cutout.job import ErrorInfo, Job, JobState, WorkerInfo


@pytest.mark.parametrize("transition", lifecycle.TRANSITIONS, ids=lambda t: t.name)
@pytest.mark.parametrize("state", list(JobState), ids=str)
def test_each_transition_accepts_exactly_its_states(
    backends: Backends,
    make_job: Callable[..., Job],
    transition: lifecycle.Transition,
    state: JobState,
) -> None:
    status = backends.status
    job = status.create(make_job(state=state))
    if state not in transition.accepts:
        with pytest.raises(Conflict):
            lifecycle.move(status, job.id, transition)
        assert status.get(job.id) == job
        return
    moved = lifecycle.move(status, job.id, transition)
    assert moved.state is transition.to
    assert (moved.timings.finished_at is not None) is transition.to.is_finished
    assert status.get(job.id) == moved


def test_a_job_lives_through_claim_hand_back_claim_and_finish(
    backends: Backends, make_job: Callable[..., Job]
) -> None:
    status = backends.status
    job = status.create(make_job())
    claimed = lifecycle.claim(status, job.id, WorkerInfo(id="w1", cold_start=True))
    assert (claimed.state, claimed.attempts, claimed.worker) == (
        JobState.RUNNING,
        1,
        WorkerInfo(id="w1", cold_start=True),
    )
    assert claimed.timings.started_at is not None and claimed.timings.finished_at is None
    note = ErrorInfo(code="transient", message="OSError: connection reset")
    back = lifecycle.hand_back(status, job.id, error=note)
    assert (back.state, back.attempts, back.error) == (JobState.QUEUED, 1, note)
    lifecycle.claim(status, job.id, WorkerInfo(id="w2"))
    cancelled = lifecycle.cancel(status, job.id, "the batch was cancelled")
    assert cancelled.state is JobState.FAILED
    assert cancelled.error == ErrorInfo(code="cancelled", message="the batch was cancelled")
    assert cancelled.attempts == 2 and cancelled.timings.finished_at is not None
