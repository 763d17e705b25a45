"""Draining dead letters on the real local queue and status store: a dead letter is acked
only once its job is failed (or already finished, or gone); a transient error leaves it
for the next drain; a fatal one gives it back and stops the drain."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from cutout import lifecycle
from cutout.backends import Backends, open_backends
from cutout.errors import PermissionDenied, TransientError
from cutout.job import JobState, ModelInfo, WorkerInfo
from cutout.policy import Retry
from cutout.ports import StatusStore
from cutout.samples import jpeg_bytes, photo_like
from cutout.settings import Settings
from tests.support.worker import submit
from worker.dead_letters import drain_dead_letters

NO_WAIT = Retry(base_s=0, cap_s=0, max_attempts=1)


@pytest.fixture
def one_attempt(worker_settings: Settings) -> Settings:
    return worker_settings.with_overrides(max_attempts=1)


@pytest.fixture
def dl_backends(one_attempt: Settings) -> Backends:
    return open_backends(one_attempt)


def dead_letter_a_job(settings: Settings, backends: Backends) -> str:
    """A queued job whose only delivery was nacked: its message is a dead letter now."""
    job_id = submit(settings, backends, jpeg_bytes(photo_like(32, 24)))
    [message] = backends.queue.pull(1, wait_s=1)
    backends.queue.nack(message)
    return job_id


class FlakyStatus:
    """The real status store; its next ``failures`` transitions raise ``error``."""

    def __init__(self, real: StatusStore, error: Exception, failures: int = 1) -> None:
        self.real = real
        self.error = error
        self.failures = failures

    def transition(self, *args: Any, **kw: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise self.error
        return self.real.transition(*args, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_a_dead_letter_fails_its_job_then_is_acked(
    one_attempt: Settings, dl_backends: Backends
) -> None:
    job_id = dead_letter_a_job(one_attempt, dl_backends)
    assert drain_dead_letters(dl_backends, max_messages=5, retry=NO_WAIT, worker_id="w-test") == 1
    job = dl_backends.status.get(job_id)
    assert job.state is JobState.FAILED
    assert job.error is not None and job.error.code == "dead_lettered"
    assert job.timings.finished_at is not None
    assert dl_backends.queue.pull_dead_letters(5) == []


def test_a_transient_error_leaves_the_dead_letter_for_the_next_drain(
    one_attempt: Settings, dl_backends: Backends
) -> None:
    job_id = dead_letter_a_job(one_attempt, dl_backends)
    flaky = FlakyStatus(dl_backends.status, TransientError("firestore: 503 unavailable"))
    backends = dataclasses.replace(dl_backends, status=flaky)

    assert drain_dead_letters(backends, max_messages=5, retry=NO_WAIT, worker_id="w-test") == 0
    assert dl_backends.status.get(job_id).state is JobState.QUEUED  # not failed, not acked

    assert (
        drain_dead_letters(backends, max_messages=5, retry=NO_WAIT, worker_id="w-test") == 1
    )  # the next drain
    assert dl_backends.status.get(job_id).state is JobState.FAILED
    assert dl_backends.queue.pull_dead_letters(5) == []


def test_a_dead_letter_of_a_finished_or_missing_job_is_acked_and_changes_nothing(
    one_attempt: Settings, dl_backends: Backends
) -> None:
    job_id = dead_letter_a_job(one_attempt, dl_backends)
    lifecycle.claim(dl_backends.status, job_id, WorkerInfo(id="w"))
    done = lifecycle.finish(
        dl_backends.status, job_id, model=ModelInfo(name="m", version="1"), stages={}
    )
    dl_backends.queue.publish("no-such-job", done.priority)
    [message] = dl_backends.queue.pull(1, wait_s=1)
    dl_backends.queue.nack(message)

    assert drain_dead_letters(dl_backends, max_messages=5, retry=NO_WAIT, worker_id="w-test") == 2
    assert dl_backends.status.get(job_id) == done
    assert dl_backends.queue.pull_dead_letters(5) == []


def test_a_fatal_error_gives_the_dead_letters_back_and_is_raised(
    one_attempt: Settings, dl_backends: Backends
) -> None:
    first = dead_letter_a_job(one_attempt, dl_backends)
    second = dead_letter_a_job(one_attempt, dl_backends)
    denied = FlakyStatus(dl_backends.status, PermissionDenied("403 datastore.entities.update"))
    backends = dataclasses.replace(dl_backends, status=denied)

    with pytest.raises(PermissionDenied):
        drain_dead_letters(backends, max_messages=5, retry=NO_WAIT, worker_id="w-test")

    assert {m.job_id for m in dl_backends.queue.pull_dead_letters(5)} == {first, second}
    assert dl_backends.status.get(first).state is JobState.QUEUED
