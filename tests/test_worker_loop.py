"""The worker loop, in-process, on real local adapters with the deterministic test
segmenters: retries, dead letters, shutdown, idle exit, overlapping batches, and the
fatal errors that stop a worker after the first failure (a store refusing access, a
corrupt checkpoint) with its jobs handed back and the reason recorded for the scaler."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cutout.backends import Backends
from cutout.errors import ConfigurationError, PermissionDenied
from cutout.job import JobState
from cutout.ports import BlobStore, StatusStore
from cutout.samples import jpeg_bytes, photo_like
from cutout.settings import Settings
from tests.support.segmenters import EllipseSegmenter
from tests.support.worker import pull_all, run_worker, submit
from worker.loop import Worker
from worker.render import Renderer


def test_a_transient_error_is_retried_and_the_job_completes(
    worker_settings: Settings, worker_backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = submit(worker_settings, worker_backends, jpeg_bytes(photo_like(64, 48)))
    real_get = worker_backends.blobs.get
    failures = iter([OSError("connection reset")])

    def flaky_get(key: str) -> bytes:
        for exc in failures:
            raise exc
        return real_get(key)

    monkeypatch.setattr(worker_backends.blobs, "get", flaky_get)
    run_worker(worker_settings, worker_backends, max_batches=2)

    job = worker_backends.status.get(job_id)
    assert job.state is JobState.DONE
    assert job.attempts == 2
    assert job.error is None


def test_a_job_that_keeps_failing_is_dead_lettered_and_failed_with_the_reason(
    worker_settings: Settings, worker_backends: Backends
) -> None:
    failing = worker_settings.with_overrides(segmenter="test-failing")
    job_id = submit(failing, worker_backends, jpeg_bytes(photo_like(64, 48)))
    run_worker(failing, worker_backends)  # exits when idle

    job = worker_backends.status.get(job_id)
    assert job.state is JobState.FAILED
    assert job.error is not None
    assert job.error.code == "dead_lettered"
    assert "3 attempts" in job.error.message
    assert "illegal memory access" in job.error.message
    assert job.attempts == 3


def test_stopping_hands_unrendered_jobs_back_for_another_worker(
    worker_settings: Settings, worker_backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = [jpeg_bytes(photo_like(64, 48 + i)) for i in range(2)]
    ids = [submit(worker_settings, worker_backends, photo) for photo in photos]
    worker = Worker(settings=worker_settings, backends=worker_backends, max_batches=1)
    segment = EllipseSegmenter.segment

    def segment_then_sigterm(self: EllipseSegmenter, images: list[np.ndarray]) -> list[np.ndarray]:
        worker.stop()
        return segment(self, images)

    monkeypatch.setattr(EllipseSegmenter, "segment", segment_then_sigterm)
    worker.work()

    assert [worker_backends.status.get(i).state for i in ids] == [JobState.QUEUED] * 2
    redelivered = pull_all(worker_backends, 2)
    assert sorted(m.job_id for m in redelivered) == sorted(ids)


def test_the_worker_exits_after_its_idle_period(
    worker_settings: Settings, worker_backends: Backends
) -> None:
    finished = threading.Event()

    def work() -> None:
        run_worker(worker_settings, worker_backends)
        finished.set()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    assert finished.wait(timeout=15), "worker did not exit after idle_exit_s"
    assert worker_backends.launcher.alive(max_age_s=60) == []  # said goodbye


def test_the_next_batch_is_segmented_while_the_previous_one_renders(
    worker_settings: Settings, worker_backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = worker_settings.with_overrides(batch_size=1, batch_wait_ms=0)
    for i in range(2):
        submit(settings, worker_backends, jpeg_bytes(photo_like(64, 48 + i)))
    events: list[tuple[str, float]] = []
    real_segment, real_render = EllipseSegmenter.segment, Renderer.render

    def segment(self: EllipseSegmenter, images: list[np.ndarray]) -> list[np.ndarray]:
        events.append(("segment", time.monotonic()))
        return real_segment(self, images)

    def slow_render(self: Renderer, *args: object) -> object:
        time.sleep(1.0)
        result = real_render(self, *args)  # type: ignore[arg-type]
        events.append(("rendered", time.monotonic()))
        return result

    monkeypatch.setattr(EllipseSegmenter, "segment", segment)
    monkeypatch.setattr(Renderer, "render", slow_render)
    run_worker(settings, worker_backends, max_batches=2)

    segments = [t for kind, t in events if kind == "segment"]
    renders = [t for kind, t in events if kind == "rendered"]
    assert len(segments) == len(renders) == 2
    assert segments[1] < renders[0], "the second batch waited for the first to render"


def test_a_job_pulled_while_the_model_loads_starts_once_it_has_loaded(
    worker_settings: Settings, worker_backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Company for a batch is awaited only while the batch could not start anyway: with a
    30 s batch window and a model that loads in half a second, the lone job starts soon
    after the model is ready, not 30 s after it was pulled."""
    settings = worker_settings.with_overrides(batch_size=4, batch_wait_ms=30_000, lease_s=120)
    submit(settings, worker_backends, jpeg_bytes(photo_like(64, 48)))
    real_init = EllipseSegmenter.__init__

    def slow_load(self: EllipseSegmenter, settings: object = None) -> None:
        time.sleep(0.5)
        real_init(self, settings)

    monkeypatch.setattr(EllipseSegmenter, "__init__", slow_load)
    life = run_worker(settings, worker_backends, max_batches=1).life
    assert life.ready is not None and life.first_job is not None
    assert life.jobs_served == 1
    assert (life.first_job - life.ready).total_seconds() < 15, "waited out the batch window"


def test_settings_refuse_a_batch_window_that_would_outlast_the_leases() -> None:
    with pytest.raises(ConfigurationError, match="at most half of CUTOUT_LEASE_S"):
        Settings.from_env({"CUTOUT_BATCH_WAIT_MS": "5001", "CUTOUT_LEASE_S": "10"})
    settings = Settings.from_env({"CUTOUT_BATCH_WAIT_MS": "5000", "CUTOUT_LEASE_S": "10"})
    assert settings.batch_wait_ms == 5000


class DenyingBlobs:
    """The real blob store, except that every read is refused, as Cloud Storage answers
    403 to a worker whose service account lacks read access to the uploads bucket."""

    def __init__(self, real: BlobStore) -> None:
        self.real = real
        self.refused = 0

    def get(self, key: str) -> bytes:
        self.refused += 1
        raise PermissionDenied(f"reading {key}: 403 caller does not have storage.objects.get")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


class DenyingStatus:
    """The real status store, except that every write is refused (403)."""

    def __init__(self, real: StatusStore) -> None:
        self.real = real
        self.refused = 0

    def transition(self, job_id: str, *args: object, **kw: object) -> object:
        self.refused += 1
        raise PermissionDenied(f"moving job {job_id}: 403 missing datastore.entities.update")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def assert_handed_back(backends: Backends, ids: list[str]) -> None:
    """Every job queued again with no attempt burned, its message deliverable again."""
    for job_id in ids:
        job = backends.status.get(job_id)
        assert (job.state, job.attempts, job.error) == (JobState.QUEUED, 0, None)
    redelivered = pull_all(backends, len(ids))
    assert sorted(m.job_id for m in redelivered) == sorted(ids)
    assert [m.attempt for m in redelivered] == [2] * len(ids)
    assert backends.queue.pull_dead_letters(10) == []


@pytest.mark.parametrize(
    ("port", "wrapper", "most_refused", "reason"),
    [
        # the batch's fetches run in parallel: up to two before the worker stops
        ("blobs", DenyingBlobs, 2, "permission_denied: reading uploads/"),
        # the first claim: the second job is not even tried
        ("status", DenyingStatus, 1, "permission_denied: moving job"),
    ],
)
def test_a_store_refusing_access_stops_the_worker_after_the_first_failure(
    worker_settings: Settings,
    worker_backends: Backends,
    port: str,
    wrapper: type[DenyingBlobs | DenyingStatus],
    most_refused: int,
    reason: str,
) -> None:
    photos = [jpeg_bytes(photo_like(64, 48 + i)) for i in range(2)]
    ids = [submit(worker_settings, worker_backends, photo) for photo in photos]
    store = wrapper(getattr(worker_backends, port))
    denied = dataclasses.replace(worker_backends, **{port: store})
    worker = Worker(settings=worker_settings, backends=denied)

    with pytest.raises(PermissionDenied, match="403"):
        worker.work()

    assert 1 <= store.refused <= most_refused  # no further pull after the first failure
    assert worker.jobs_done == 0
    assert_handed_back(worker_backends, ids)
    [failure] = worker_backends.launcher.failures(max_age_s=60)
    assert failure.worker_id == worker.id
    assert failure.reason.startswith(reason)
    assert worker_backends.launcher.alive(max_age_s=60) == []


def test_a_corrupt_checkpoint_stops_the_worker_and_hands_its_jobs_back(
    worker_settings: Settings, worker_backends: Backends, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "ckpt_fast.pth"
    checkpoint.write_bytes(b"\x80\x02 this is not a checkpoint" * 100)
    settings = worker_settings.with_overrides(
        segmenter="inspyrenet", model_mode="fast", weights=str(checkpoint), device="cpu"
    )
    job_id = submit(settings, worker_backends, jpeg_bytes(photo_like(64, 48)))
    worker = Worker(settings=settings, backends=worker_backends)

    with pytest.raises(ConfigurationError, match="cannot read checkpoint"):
        worker.work()

    job = worker_backends.status.get(job_id)
    assert (job.state, job.attempts, job.error) == (JobState.QUEUED, 0, None)
    assert [m.job_id for m in pull_all(worker_backends, 1)] == [job_id]
    [failure] = worker_backends.launcher.failures(max_age_s=60)
    assert failure.reason.startswith("configuration: cannot read checkpoint")


def test_the_idle_exit_reads_the_injected_clock(
    worker_settings: Settings, worker_backends: Backends
) -> None:
    """A simulation drives the loop's rules through ``clock``: here every reading is an
    hour later, so the first empty poll is already past an idle period of ten minutes."""
    readings = iter(range(0, 10**9, 3600))
    settings = worker_settings.with_overrides(idle_exit_s=600)
    worker = Worker(settings=settings, backends=worker_backends, clock=lambda: next(readings))
    started = time.monotonic()
    assert worker.work() == 0
    assert time.monotonic() - started < 10  # not ten real minutes
