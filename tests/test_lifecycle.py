"""What each named transition writes, on the real SQLite status store (every family
accepts the same states: tests/contract/test_lifecycle_contract.py)."""

from __future__ import annotations

import pytest

from cutout import lifecycle
from cutout.errors import Conflict, IllegalTransition
from cutout.job import EffectRequest, ErrorInfo, InputInfo, Job, JobState, ModelInfo, WorkerInfo
from cutout.local.status import SqliteStatusStore
from cutout.settings import Settings

MODEL = ModelInfo(name="test-ellipse", version="1")
NOTE = ErrorInfo(code="transient", message="OSError: connection reset")


@pytest.fixture
def status(settings: Settings) -> SqliteStatusStore:
    return SqliteStatusStore(settings.db_path)


def running(status: SqliteStatusStore, *, cold: bool = False) -> Job:
    job = Job(
        id="j1",
        input=InputInfo(key="uploads/a", sha256="0" * 64, width=4, height=3, format="png", bytes=9),
        effects=[EffectRequest(name="color")],
    )
    status.create(job)
    return lifecycle.claim(status, job.id, WorkerInfo(id="w1", cold_start=cold))


def test_claim_counts_an_attempt_and_a_redelivery_counts_another(
    status: SqliteStatusStore,
) -> None:
    first = running(status)
    again = lifecycle.claim(status, first.id, WorkerInfo(id="w2"))
    assert (again.attempts, again.worker) == (2, WorkerInfo(id="w2"))
    assert again.timings.started_at is not None and first.timings.started_at is not None
    assert again.timings.started_at >= first.timings.started_at


def test_finish_records_the_model_stages_and_start_up_and_clears_a_retry_note(
    status: SqliteStatusStore,
) -> None:
    job = running(status, cold=True)
    lifecycle.hand_back(status, job.id, error=NOTE)
    lifecycle.claim(status, job.id, WorkerInfo(id="w1", cold_start=True))
    done = lifecycle.finish(
        status, job.id, model=MODEL, stages={"segment": 0.5}, startup={"build": 1.5}
    )
    assert done.state is JobState.DONE and done.error is None
    assert done.model == MODEL and done.timings.stages == {"segment": 0.5}
    assert done.worker is not None and done.worker.startup == {"build": 1.5}
    assert done.timings.finished_at is not None


def test_finish_with_every_effect_failed_fails_the_job(status: SqliteStatusStore) -> None:
    job = running(status)
    failed = lifecycle.finish(status, job.id, model=MODEL, stages={}, all_failed=True)
    assert failed.state is JobState.FAILED
    assert failed.error is not None and failed.error.code == "all_effects_failed"


def test_fail_records_the_error_and_the_stages_so_far(status: SqliteStatusStore) -> None:
    job = running(status)
    error = ErrorInfo(code="image_corrupt", message="the image cannot be decoded")
    failed = lifecycle.fail(status, job.id, error, stages={"fetch": 0.1})
    assert (failed.state, failed.error, failed.timings.stages) == (
        JobState.FAILED,
        error,
        {"fetch": 0.1},
    )
    assert failed.timings.finished_at is not None


def test_a_refunded_hand_back_gives_the_attempt_back(status: SqliteStatusStore) -> None:
    job = running(status)
    back = lifecycle.hand_back(status, job.id, refund=True)
    assert (back.state, back.attempts, back.error) == (JobState.QUEUED, 0, None)
    assert back.timings.finished_at is None


def test_dead_letter_names_the_attempts_and_the_last_error(status: SqliteStatusStore) -> None:
    job = running(status)
    lifecycle.hand_back(status, job.id, error=NOTE)
    dead = lifecycle.dead_letter(status, job.id, deliveries=5)
    assert dead.state is JobState.FAILED and dead.error is not None
    assert dead.error.code == "dead_lettered"
    assert dead.error.message == (
        "gave up after 5 attempts; last error: transient: OSError: connection reset"
    )


def test_enqueue_failed_only_fails_a_queued_job(status: SqliteStatusStore) -> None:
    job = running(status)
    with pytest.raises(Conflict):
        lifecycle.enqueue_failed(status, job.id, "pubsub unavailable")
    lifecycle.hand_back(status, job.id)
    failed = lifecycle.enqueue_failed(status, job.id, "pubsub unavailable")
    assert failed.error == ErrorInfo(code="enqueue_failed", message="pubsub unavailable")


def test_a_cancelled_job_is_not_finished_by_the_worker_still_running_it(
    status: SqliteStatusStore,
) -> None:
    job = running(status)
    lifecycle.cancel(status, job.id)
    with pytest.raises(Conflict):
        lifecycle.finish(status, job.id, model=MODEL, stages={})
    stored = status.get(job.id)
    assert stored.error is not None and stored.error.code == "cancelled"


def test_the_legal_moves_are_checked_after_the_expected_states() -> None:
    job = Job(
        id="j",
        state=JobState.DONE,
        input=InputInfo(key="k", sha256="0" * 64, width=1, height=1, format="png", bytes=1),
        effects=[],
    )
    with pytest.raises(Conflict):
        lifecycle.apply(job, [JobState.RUNNING], JobState.QUEUED, None)
    with pytest.raises(IllegalTransition):
        lifecycle.apply(job, [JobState.DONE], JobState.RUNNING, None)
    assert job.state is JobState.DONE
