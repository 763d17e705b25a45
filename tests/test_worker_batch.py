"""One batch through the worker, in-process, on real local adapters with the
deterministic test segmenters: results, batching, redelivery, bad inputs, a poison photo,
the memory budget, full-size results, results recorded as they land."""

from __future__ import annotations

import time

import numpy as np
import pytest

import effects
from cutout.backends import Backends
from cutout.integrity import content_digest, content_key
from cutout.job import ClientInfo, JobState, OutputSpec, Priority, new_job_id
from cutout.samples import jpeg_bytes, photo_like
from cutout.settings import Settings
from ingest.service import IngestService, Submission
from tests.support.segmenters import POISON_WIDTH, EllipseSegmenter, ellipse_alpha
from tests.support.worker import run_worker, submit, work_one
from worker import render


def test_a_job_is_segmented_composed_stored_and_recorded(
    worker_settings: Settings, worker_backends: Backends
) -> None:
    photo = jpeg_bytes(photo_like(320, 240), orientation=6)  # displayed as 240x320
    job, image = work_one(worker_settings, worker_backends, photo)
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
    worker_settings: Settings, worker_backends: Backends
) -> None:
    ids = [
        submit(worker_settings, worker_backends, jpeg_bytes(photo_like(60 + i, 40)))
        for i in range(3)
    ]
    run_worker(worker_settings, worker_backends, max_batches=1)
    assert EllipseSegmenter.calls == [3]
    assert all(worker_backends.status.get(i).state is JobState.DONE for i in ids)


def test_redelivery_of_a_finished_job_is_acked_without_work(
    worker_settings: Settings, worker_backends: Backends
) -> None:
    job_id = submit(worker_settings, worker_backends, jpeg_bytes(photo_like(64, 48)))
    run_worker(worker_settings, worker_backends, max_batches=1)
    before = worker_backends.status.get(job_id)
    worker_backends.queue.publish(job_id, Priority.STANDARD)  # a duplicate delivery

    run_worker(worker_settings, worker_backends, max_batches=1)
    after = worker_backends.status.get(job_id)
    assert EllipseSegmenter.calls == [1]
    assert after.attempts == before.attempts == 1
    assert after.results == before.results
    assert worker_backends.queue.pull(1, wait_s=0) == []


def test_two_messages_for_one_job_in_one_batch_run_it_once(
    worker_settings: Settings, worker_backends: Backends
) -> None:
    """At-least-once delivery: a publish retried by the client, or a lease that ran out,
    puts a job's message in the queue twice, and one pull can take both."""
    job_id = submit(worker_settings, worker_backends, jpeg_bytes(photo_like(64, 48)))
    worker_backends.queue.publish(job_id, Priority.STANDARD)
    run_worker(worker_settings, worker_backends, max_batches=1)
    job = worker_backends.status.get(job_id)
    assert job.state is JobState.DONE and job.attempts == 1
    assert EllipseSegmenter.calls == [1]
    assert sum(worker_backends.queue.depth().values()) == 0  # both messages acked


def test_an_input_that_cannot_be_decoded_fails_its_job_with_a_code(
    worker_settings: Settings, worker_backends: Backends
) -> None:
    """Bytes that still hash to the job's sha256 (else it fails ``input_changed``, see
    test_upload_integrity.py) but that ingest's structural checks would not catch."""
    backends = worker_backends
    good = backends.status.get(submit(worker_settings, backends, jpeg_bytes(photo_like(64, 48))))
    garbage = b"\xff\xd8garbage"
    sha = content_digest(garbage)
    backends.blobs.put(content_key(sha), garbage, content_type="image/jpeg")
    changed = {"key": content_key(sha), "sha256": sha}
    bad = good.model_copy(
        update={"id": new_job_id(), "input": good.input.model_copy(update=changed)}
    )
    job_id = backends.status.create(bad).id
    backends.queue.publish(job_id, Priority.STANDARD)
    run_worker(worker_settings, backends, max_batches=1)

    failed = worker_backends.status.get(job_id)
    assert failed.state is JobState.FAILED
    assert failed.error is not None and failed.error.code in {"image_corrupt", "unsupported_format"}
    assert worker_backends.queue.pull(1, wait_s=0) == []


def test_one_job_a_batch_can_fail_while_the_others_succeed(
    worker_settings: Settings, worker_backends: Backends
) -> None:
    good = submit(worker_settings, worker_backends, jpeg_bytes(photo_like(64, 48)))
    bad = submit(worker_settings, worker_backends, jpeg_bytes(photo_like(70, 48)))
    worker_backends.blobs.put(
        worker_backends.status.get(bad).input.key, b"not an image", content_type="x/y"
    )
    run_worker(worker_settings, worker_backends, max_batches=1)
    assert worker_backends.status.get(good).state is JobState.DONE
    assert worker_backends.status.get(bad).state is JobState.FAILED


def test_a_batch_bigger_than_the_memory_budget_is_processed_in_chunks(
    worker_settings: Settings, worker_backends: Backends
) -> None:
    settings = worker_settings.with_overrides(memory_budget_mp=1, batch_size=3)
    ids = [
        submit(settings, worker_backends, jpeg_bytes(photo_like(1000, 600 + i))) for i in range(3)
    ]
    run_worker(settings, worker_backends, max_batches=1)
    assert EllipseSegmenter.calls == [1, 1, 1]  # 0.6 MP each: one at a time under 1 MP
    assert all(worker_backends.status.get(i).state is JobState.DONE for i in ids)


def test_a_photo_the_segmenter_refuses_fails_alone(
    worker_settings: Settings, worker_backends: Backends
) -> None:
    settings = worker_settings.with_overrides(segmenter="test-picky")
    good = submit(settings, worker_backends, jpeg_bytes(photo_like(64, 48)))
    refused = submit(settings, worker_backends, jpeg_bytes(photo_like(77, 48)))
    run_worker(settings, worker_backends, max_batches=1)
    assert worker_backends.status.get(good).state is JobState.DONE
    failed = worker_backends.status.get(refused)
    assert failed.state is JobState.FAILED
    assert failed.error is not None and failed.error.code == "unsegmentable"


def test_a_24_megapixel_phone_photo_comes_back_at_its_full_size(
    worker_settings: Settings, worker_backends: Backends
) -> None:
    """The old service answered 413 to these; here the model sees a downscaled copy and
    the result keeps every pixel of the input."""
    settings = worker_settings.with_overrides(foreground=False)  # tested on its own
    sideways = np.full((6000, 4000, 3), 120, np.uint8)
    sideways[1000:5000, 1000:3000] = (200, 140, 90)
    photo = jpeg_bytes(sideways, quality=80, orientation=6)  # shown 6000x4000
    job, image = work_one(settings, worker_backends, photo)
    result = job.results["color"]
    assert (result.width, result.height) == (6000, 4000)
    assert image.size == (6000, 4000) and image.mode == "RGBA"


def test_each_result_is_recorded_while_later_effects_still_compute(
    worker_settings: Settings, worker_backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The order of events for a four-effect job on a 12 MP photo: the first result is in
    the job before the last effect has finished computing."""
    events: list[tuple[float, str, str]] = []
    real_run_all, real_record = effects.run_all, worker_backends.status.record_result

    def spy_run_all(*args: object, **kw: object):  # type: ignore[no-untyped-def]
        for outcome in real_run_all(*args, **kw):  # type: ignore[arg-type]
            events.append((time.perf_counter(), "computed", str(outcome.index)))
            yield outcome

    def spy_record(job_id: str, effect: str, **kw: object):  # type: ignore[no-untyped-def]
        job = real_record(job_id, effect, **kw)  # type: ignore[arg-type]
        events.append((time.perf_counter(), "recorded", effect))
        return job

    monkeypatch.setattr(render.effects, "run_all", spy_run_all)
    monkeypatch.setattr(worker_backends.status, "record_result", spy_record)
    names = ["color", "blackwhite", "popart", "halftone"]
    sub = Submission(
        effects=[(n, {}) for n in names],
        output=OutputSpec(),
        priority=Priority.STANDARD,
        client=ClientInfo(),
        data=jpeg_bytes(photo_like(4000, 3000)),
    )
    job_id = IngestService(worker_settings, worker_backends).submit(sub).job.id
    run_worker(worker_settings, worker_backends, max_batches=1)

    job = worker_backends.status.get(job_id)
    assert job.state is JobState.DONE and set(job.results) == set(names)
    first_recorded = min(t for t, kind, _ in events if kind == "recorded")
    last_computed = max(t for t, kind, _ in events if kind == "computed")
    assert first_recorded < last_computed, events


def test_a_poison_photo_is_retried_and_dead_lettered_while_the_others_are_served(
    worker_settings: Settings, worker_backends: Backends
) -> None:
    """The model code raises for one photo only: its batch-mates are segmented without it,
    the worker keeps serving, and the poison job ends dead-lettered after max_attempts."""
    settings = worker_settings.with_overrides(segmenter="test-poison")
    good = submit(settings, worker_backends, jpeg_bytes(photo_like(64, 48)))
    poison = submit(settings, worker_backends, jpeg_bytes(photo_like(POISON_WIDTH, 48)))
    worker = run_worker(settings, worker_backends)  # until idle: no error escapes
    later = submit(settings, worker_backends, jpeg_bytes(photo_like(64, 50)))
    run_worker(settings, worker_backends)

    assert worker_backends.status.get(good).state is JobState.DONE
    assert worker_backends.status.get(later).state is JobState.DONE
    assert worker.jobs_done == 1  # the good job; the poison one was failed by the drain
    failed = worker_backends.status.get(poison)
    assert failed.state is JobState.FAILED
    assert failed.error is not None and failed.error.code == "dead_lettered"
    assert "3 attempts" in failed.error.message
    assert "RuntimeError: shape mismatch" in failed.error.message
    assert failed.attempts == 3
    assert worker_backends.queue.pull(5, wait_s=0) == []
    assert worker_backends.queue.pull_dead_letters(5) == []  # acked once applied
