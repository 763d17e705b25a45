"""The worker loop in-process, on real local adapters, with a deterministic segmenter:
results, redelivery, bad inputs, retries, dead letters, shutdown, cold-start timings."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from cutout.backends import Backends, open_backends
from cutout.integrity import content_digest, content_key
from cutout.job import ClientInfo, Job, JobState, OutputSpec, Priority, new_job_id
from cutout.samples import jpeg_bytes, photo_like
from cutout.settings import Settings
from ingest.service import IngestService, Submission
from tests.support.segmenters import EllipseSegmenter, FailingSegmenter, ellipse_alpha
from worker.loop import Worker
from worker.segmenters import base


@pytest.fixture(autouse=True)
def _test_segmenters(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(base.SEGMENTERS, "test-ellipse", EllipseSegmenter)
    monkeypatch.setitem(base.SEGMENTERS, "test-failing", FailingSegmenter)
    EllipseSegmenter.calls = []
    yield


@pytest.fixture
def worker_settings(settings: Settings) -> Settings:
    return settings.with_overrides(
        segmenter="test-ellipse",
        poll_s=0.2,
        batch_wait_ms=50,
        idle_exit_s=1.0,
        retry_base_s=0.0,
        lease_s=10,
        max_attempts=3,
        autoscale=False,  # these tests run the worker themselves
    )


@pytest.fixture
def backends(worker_settings: Settings) -> Backends:
    return open_backends(worker_settings)


def submit(settings: Settings, backends: Backends, data: bytes, **kw: object) -> str:
    sub = Submission(
        effects=[("color", {})],
        output=OutputSpec(),
        priority=kw.get("priority", Priority.STANDARD),  # type: ignore[arg-type]
        client=ClientInfo(),
        data=data,
    )
    return IngestService(settings, backends).submit(sub).job.id


def run_worker(settings: Settings, backends: Backends, **kw: object) -> Worker:
    worker = Worker(settings=settings, backends=backends, **kw)  # type: ignore[arg-type]
    worker.work()
    return worker


def work_one(settings: Settings, backends: Backends, photo: bytes) -> tuple[Job, Image.Image]:
    """Submit ``photo`` for ``color``, run one batch; the finished job and its image."""
    job_id = submit(settings, backends, photo)
    run_worker(settings, backends, max_batches=1)
    job = backends.status.get(job_id)
    assert job.state is JobState.DONE, job.error
    return job, Image.open(io.BytesIO(backends.blobs.get(job.results["color"].key)))


def test_a_job_is_segmented_composed_stored_and_recorded(
    worker_settings: Settings, backends: Backends
) -> None:
    photo = jpeg_bytes(photo_like(320, 240), orientation=6)  # displayed as 240x320
    job, image = work_one(worker_settings, backends, photo)
    result = job.results["color"]
    assert (result.width, result.height) == (240, 320)
    assert image.format == "PNG" and image.mode == "RGBA" and image.size == (240, 320)
    alpha = np.asarray(image)[..., 3]
    assert np.array_equal(alpha, ellipse_alpha(320, 240))
    assert job.attempts == 1
    assert job.model is not None and job.model.name == "test-ellipse"
    assert job.worker is not None and job.worker.cold_start
    assert "process_to_first_batch_s" in job.worker.startup
    assert {"fetch", "decode", "segment", "compose"} <= set(job.timings.stages)
    assert job.timings.finished_at is not None


def test_jobs_in_one_pull_are_segmented_as_one_batch(
    worker_settings: Settings, backends: Backends
) -> None:
    ids = [submit(worker_settings, backends, jpeg_bytes(photo_like(60 + i, 40))) for i in range(3)]
    run_worker(worker_settings, backends, max_batches=1)
    assert EllipseSegmenter.calls == [3]
    assert all(backends.status.get(i).state is JobState.DONE for i in ids)


def test_redelivery_of_a_finished_job_is_acked_without_work(
    worker_settings: Settings, backends: Backends
) -> None:
    job_id = submit(worker_settings, backends, jpeg_bytes(photo_like(64, 48)))
    run_worker(worker_settings, backends, max_batches=1)
    before = backends.status.get(job_id)
    backends.queue.publish(job_id, Priority.STANDARD)  # a duplicate delivery

    run_worker(worker_settings, backends, max_batches=1)
    after = backends.status.get(job_id)
    assert EllipseSegmenter.calls == [1]
    assert after.attempts == before.attempts == 1
    assert after.results == before.results
    assert backends.queue.pull(1, wait_s=0) == []


def test_an_input_that_cannot_be_decoded_fails_its_job_with_a_code(
    worker_settings: Settings, backends: Backends
) -> None:
    """Bytes that still hash to the job's sha256 (else it fails ``input_changed``, see
    test_upload_integrity.py) but that ingest's structural checks would not catch."""
    good = backends.status.get(submit(worker_settings, backends, jpeg_bytes(photo_like(64, 48))))
    garbage = b"\xff\xd8garbage"
    sha = content_digest(garbage)
    backends.blobs.put(content_key(sha), garbage, content_type="image/jpeg")
    bad = good.model_copy(
        update={
            "id": new_job_id(),
            "input": good.input.model_copy(update={"key": content_key(sha), "sha256": sha}),
        }
    )
    job_id = backends.status.create(bad).id
    backends.queue.publish(job_id, Priority.STANDARD)
    run_worker(worker_settings, backends, max_batches=1)

    failed = backends.status.get(job_id)
    assert failed.state is JobState.FAILED
    assert failed.error is not None and failed.error.code in {"image_corrupt", "unsupported_format"}
    assert backends.queue.pull(1, wait_s=0) == []


def test_a_transient_error_is_retried_and_the_job_completes(
    worker_settings: Settings, backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = submit(worker_settings, backends, jpeg_bytes(photo_like(64, 48)))
    real_get = backends.blobs.get
    failures = iter([OSError("connection reset")])

    def flaky_get(key: str) -> bytes:
        for exc in failures:
            raise exc
        return real_get(key)

    monkeypatch.setattr(backends.blobs, "get", flaky_get)
    run_worker(worker_settings, backends, max_batches=2)

    job = backends.status.get(job_id)
    assert job.state is JobState.DONE
    assert job.attempts == 2
    assert job.error is None


def test_a_job_that_keeps_failing_is_dead_lettered_and_failed_with_the_reason(
    worker_settings: Settings, backends: Backends
) -> None:
    failing = worker_settings.with_overrides(segmenter="test-failing")
    job_id = submit(failing, backends, jpeg_bytes(photo_like(64, 48)))
    run_worker(failing, backends)  # exits when idle

    job = backends.status.get(job_id)
    assert job.state is JobState.FAILED
    assert job.error is not None
    assert job.error.code == "dead_lettered"
    assert "3 attempts" in job.error.message
    assert "illegal memory access" in job.error.message
    assert job.attempts == 3


def test_stopping_hands_unrendered_jobs_back_for_another_worker(
    worker_settings: Settings, backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [submit(worker_settings, backends, jpeg_bytes(photo_like(64, 48 + i))) for i in range(2)]
    worker = Worker(settings=worker_settings, backends=backends, max_batches=1)
    segment = EllipseSegmenter.segment

    def segment_then_sigterm(self: EllipseSegmenter, images: list[np.ndarray]) -> list[np.ndarray]:
        worker.stop()
        return segment(self, images)

    monkeypatch.setattr(EllipseSegmenter, "segment", segment_then_sigterm)
    worker.work()

    assert [backends.status.get(i).state for i in ids] == [JobState.QUEUED] * 2
    redelivered = backends.queue.pull(5, wait_s=0)
    assert sorted(m.job_id for m in redelivered) == sorted(ids)


def test_the_worker_exits_after_its_idle_period(
    worker_settings: Settings, backends: Backends
) -> None:
    finished = threading.Event()

    def work() -> None:
        run_worker(worker_settings, backends)
        finished.set()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    assert finished.wait(timeout=15), "worker did not exit after idle_exit_s"
    assert backends.launcher.alive(max_age_s=60) == []  # said goodbye


def test_one_job_a_batch_can_fail_while_the_others_succeed(
    worker_settings: Settings, backends: Backends
) -> None:
    good = submit(worker_settings, backends, jpeg_bytes(photo_like(64, 48)))
    bad = submit(worker_settings, backends, jpeg_bytes(photo_like(70, 48)))
    backends.blobs.put(backends.status.get(bad).input.key, b"not an image", content_type="x/y")
    run_worker(worker_settings, backends, max_batches=1)
    assert backends.status.get(good).state is JobState.DONE
    assert backends.status.get(bad).state is JobState.FAILED


def test_each_result_is_recorded_while_later_effects_still_compute(
    worker_settings: Settings, backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The order of events for a four-effect job on a 12 MP photo: the first result is in
    the job before the last effect has finished computing."""
    import time

    import effects
    from worker import render

    events: list[tuple[float, str, str]] = []
    real_run_all, real_record = effects.run_all, backends.status.record_result

    def spy_run_all(*args: object, **kw: object):  # type: ignore[no-untyped-def]
        for outcome in real_run_all(*args, **kw):  # type: ignore[arg-type]
            events.append((time.perf_counter(), "computed", str(outcome.index)))
            yield outcome

    def spy_record(job_id: str, effect: str, **kw: object):  # type: ignore[no-untyped-def]
        job = real_record(job_id, effect, **kw)  # type: ignore[arg-type]
        events.append((time.perf_counter(), "recorded", effect))
        return job

    monkeypatch.setattr(render.effects, "run_all", spy_run_all)
    monkeypatch.setattr(backends.status, "record_result", spy_record)
    names = ["color", "blackwhite", "popart", "halftone"]
    sub = Submission(
        effects=[(n, {}) for n in names],
        output=OutputSpec(),
        priority=Priority.STANDARD,
        client=ClientInfo(),
        data=jpeg_bytes(photo_like(4000, 3000)),
    )
    job_id = IngestService(worker_settings, backends).submit(sub).job.id
    run_worker(worker_settings, backends, max_batches=1)

    job = backends.status.get(job_id)
    assert job.state is JobState.DONE and set(job.results) == set(names)
    first_recorded = min(t for t, kind, _ in events if kind == "recorded")
    last_computed = max(t for t, kind, _ in events if kind == "computed")
    assert first_recorded < last_computed, events


def test_a_batch_bigger_than_the_memory_budget_is_processed_in_chunks(
    worker_settings: Settings, backends: Backends
) -> None:
    settings = worker_settings.with_overrides(memory_budget_mp=1, batch_size=3)
    ids = [submit(settings, backends, jpeg_bytes(photo_like(1000, 600 + i))) for i in range(3)]
    run_worker(settings, backends, max_batches=1)
    assert EllipseSegmenter.calls == [1, 1, 1]  # 0.6 MP each: one at a time under 1 MP
    assert all(backends.status.get(i).state is JobState.DONE for i in ids)


def test_the_next_batch_is_segmented_while_the_previous_one_renders(
    worker_settings: Settings, backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from worker.render import Renderer

    settings = worker_settings.with_overrides(batch_size=1, batch_wait_ms=0)
    for i in range(2):
        submit(settings, backends, jpeg_bytes(photo_like(64, 48 + i)))
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
    run_worker(settings, backends, max_batches=2)

    segments = [t for kind, t in events if kind == "segment"]
    renders = [t for kind, t in events if kind == "rendered"]
    assert len(segments) == len(renders) == 2
    assert segments[1] < renders[0], "the second batch waited for the first to render"


def test_a_photo_the_segmenter_refuses_fails_alone(
    worker_settings: Settings, backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.segmenters import PickySegmenter

    monkeypatch.setitem(base.SEGMENTERS, "test-picky", PickySegmenter)
    settings = worker_settings.with_overrides(segmenter="test-picky")
    good = submit(settings, backends, jpeg_bytes(photo_like(64, 48)))
    refused = submit(settings, backends, jpeg_bytes(photo_like(77, 48)))
    run_worker(settings, backends, max_batches=1)
    assert backends.status.get(good).state is JobState.DONE
    failed = backends.status.get(refused)
    assert failed.state is JobState.FAILED
    assert failed.error is not None and failed.error.code == "unsegmentable"


def test_a_24_megapixel_phone_photo_comes_back_at_its_full_size(
    worker_settings: Settings, backends: Backends
) -> None:
    """The old service answered 413 to these; here the model sees a downscaled copy and
    the result keeps every pixel of the input."""
    settings = worker_settings.with_overrides(foreground=False)  # tested on its own
    sideways = np.full((6000, 4000, 3), 120, np.uint8)
    sideways[1000:5000, 1000:3000] = (200, 140, 90)
    photo = jpeg_bytes(sideways, quality=80, orientation=6)  # shown 6000x4000
    job, image = work_one(settings, backends, photo)
    result = job.results["color"]
    assert (result.width, result.height) == (6000, 4000)
    assert image.size == (6000, 4000) and image.mode == "RGBA"
