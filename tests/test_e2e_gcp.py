"""End to end on the emulators: photos through ingest (IngestApp) with the GCP adapters,
worked by the real worker loop, in-process or as ``python -m worker`` subprocesses.

- priorities: with one busy worker, high jobs are taken before standard ones and both
  before batch jobs queued earlier;
- a job that keeps failing ends in the dead-letter topic and ``failed`` with the reason;
- a worker killed mid-batch (SIGKILL) loses no job: Pub/Sub redelivers after the ack
  deadline, and every job is finished exactly once;
- a job whose one effect fails (a real encoding limit) ends ``done`` with that effect's
  error and the other effect's result;
- a redelivered job never yields a second, different result: result keys are
  content-addressed, a worker reuses a result its predecessor stored, and results are
  written with ``if_generation_match=0`` (two writers at once: one wins, see
  ``test_if_absent_race_has_exactly_one_winner[gcp]``), so generations never change.

The segmenters are the deterministic test ones (tests/support/segmenters.py); child
processes get them through a ``sitecustomize`` (:func:`child_env`).
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import requests
from google.cloud import pubsub_v1, storage
from google.cloud.storage import Bucket
from PIL import Image
from urllib3 import encode_multipart_formdata
from werkzeug.test import Client
from werkzeug.wrappers import Request

from cutout.backends import Backends, open_backends
from cutout.gcp.topology import Names
from cutout.job import Job, JobState, Priority
from cutout.keys import key_pepper
from cutout.ports import BlobInfo, BlobStore
from cutout.settings import Settings
from ingest.app import IngestApp
from tests.conftest import FIXTURES
from tests.support.keys import add_key
from tests.support.partial_failure import FIELDS, assert_one_effect_failed, panorama_jpeg
from tests.support.segmenters import (
    SLOW_S,
    EllipseSegmenter,
    FailingSegmenter,
    child_env,
    ellipse_alpha,
)
from worker.loop import Worker
from worker.pipeline import PIPELINE_DEPTH
from worker.segmenters import base

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

PEPPER = "e2e-pepper"


# -- helpers ----------------------------------------------------------------------------


def variant(name: str, n: int) -> bytes:
    """The fixture photo, with one pixel changed per ``n``: a different upload (and cache
    key) for each priority, so no submission is answered from another's result."""
    image = np.array(Image.open(FIXTURES / name).convert("RGB"))
    image[0, 0] = (n * 37 % 256, n * 91 % 256, n)
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "PNG")
    return buf.getvalue()


class Ingest:
    """The ingest API, driven through its WSGI dispatch like functions-framework does."""

    def __init__(self, settings: Settings) -> None:
        backends = open_backends(settings)
        self.app = IngestApp(settings, backends)
        key = add_key(backends.keys, key_pepper(settings), tier=Priority.HIGH)

        def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            return self.app.dispatch(Request(environ))(environ, start_response)

        self.client = Client(wsgi)
        self.auth = {"Authorization": f"Bearer {key}"}

    def submit(self, data: bytes, priority: Priority) -> str:
        body, content_type = encode_multipart_formdata(
            [("priority", priority.value), ("file", ("photo.png", data, "image/png"))]
        )
        response = self.client.post(
            "/v1/jobs", data=body, headers={"Content-Type": content_type, **self.auth}
        )
        assert response.status_code == 202, response.get_data(as_text=True)
        return str(response.json["id"])

    def submit_direct(self, data: bytes, priority: Priority) -> str:
        """Upload straight to GCS with a signed PUT URL, then submit the upload id."""
        upload = self.client.post("/v1/uploads?content_type=image/png", headers=self.auth).json
        put = requests.put(upload["url"], data=data, headers=upload["headers"], timeout=30)
        assert put.status_code == 200, put.text
        response = self.client.post(
            "/v1/jobs",
            json={"upload_id": upload["upload_id"], "priority": priority.value},
            headers=self.auth,
        )
        assert response.status_code == 202, response.get_data(as_text=True)
        return str(response.json["id"])

    def poll(self, job_id: str) -> dict[str, Any]:
        response = self.client.get(f"/v1/jobs/{job_id}")
        assert response.status_code == 200
        return dict(response.json)


def wait_until(done: Callable[[], bool], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not done():
        assert time.monotonic() < deadline, f"{what}: not within {within_s} s"
        time.sleep(0.1)


def states(backends: Backends, ids: Sequence[str]) -> dict[str, JobState]:
    return {job_id: backends.status.get(job_id).state for job_id in ids}


def running(backends: Backends, ids: Sequence[str]) -> list[str]:
    return [job_id for job_id, state in states(backends, ids).items() if state is JobState.RUNNING]


def all_finished(backends: Backends, ids: Sequence[str]) -> Callable[[], bool]:
    return lambda: all(s.is_finished for s in states(backends, ids).values())


class WorkerThread:
    """The real worker loop in a thread of the test, stopped like SIGTERM stops it."""

    def __init__(self, settings: Settings, backends: Backends | None = None) -> None:
        self.worker = Worker(settings=settings, backends=backends or open_backends(settings))
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="e2e-worker", daemon=True)

    def __enter__(self) -> WorkerThread:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.worker.stop()
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), "the worker did not stop"

    def _run(self) -> None:
        try:
            self.worker.work()
        except BaseException as exc:
            self.error = exc


def results_bucket(settings: Settings) -> Bucket:
    return storage.Client(project=settings.gcp_project).bucket(settings.results_bucket)


def generations(settings: Settings) -> dict[str, int]:
    """Every stored result object and its generation."""
    return {
        blob.name: int(blob.generation)
        for blob in results_bucket(settings).list_blobs(prefix="results/")
    }


@pytest.fixture
def e2e_settings(gcp_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setitem(base.SEGMENTERS, "test-ellipse", EllipseSegmenter)
    monkeypatch.setitem(base.SEGMENTERS, "test-failing", FailingSegmenter)
    monkeypatch.setitem(base.SEGMENTERS, "test-gated", GatedSegmenter)
    GatedSegmenter.reset()
    return gcp_settings.with_overrides(
        segmenter="test-ellipse",
        key_pepper=PEPPER,
        batch_size=1,
        poll_s=0.3,
        batch_wait_ms=50,
        idle_exit_s=0.0,
        autoscale=False,  # the tests run their workers themselves
    )


# -- priorities -------------------------------------------------------------------------


class GatedSegmenter(EllipseSegmenter):
    """Holds its first batch until the test opens the gate: the worker is busy."""

    busy: ClassVar[threading.Event] = threading.Event()
    gate: ClassVar[threading.Event] = threading.Event()

    @classmethod
    def reset(cls) -> None:
        cls.busy, cls.gate = threading.Event(), threading.Event()

    def segment(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        GatedSegmenter.busy.set()
        assert GatedSegmenter.gate.wait(timeout=60), "the test never opened the gate"
        return super().segment(images)


def test_high_priority_overtakes_batch_jobs_queued_earlier(e2e_settings: Settings) -> None:
    settings = e2e_settings.with_overrides(segmenter="test-gated")
    ingest = Ingest(settings)
    backends = ingest.app.service.backends
    photos = sorted(p.name for p in FIXTURES.glob("*.png"))
    batch = [ingest.submit(variant(name, 0), Priority.BATCH) for name in photos]
    with WorkerThread(settings) as worker:
        # the worker is busy: one batch job on the (gated) device, one more in hand
        assert GatedSegmenter.busy.wait(timeout=60), "the worker never took a job"
        wait_until(lambda: len(running(backends, batch)) == PIPELINE_DEPTH, 30, "a full pipeline")
        taken_first = running(backends, batch)
        standard = [ingest.submit(variant(name, 1), Priority.STANDARD) for name in photos]
        high = [ingest.submit(variant(photos[0], 2), Priority.HIGH)]
        high += [ingest.submit_direct(variant(name, 2), Priority.HIGH) for name in photos[1:]]
        GatedSegmenter.gate.set()
        everything = batch + standard + high
        wait_until(all_finished(backends, everything), 90, "all jobs done")
    assert worker.error is None

    jobs = {job_id: ingest.app.service.get(job_id) for job_id in everything}
    assert {j.state for j in jobs.values()} == {JobState.DONE}
    taken = sorted(everything, key=lambda i: started_at(jobs[i]))
    assert set(taken[:PIPELINE_DEPTH]) == set(taken_first)
    later_batch = [i for i in batch if i not in taken_first]
    rest = taken[PIPELINE_DEPTH:]
    assert rest == tier_by_tier(rest, high, standard, later_batch)
    last_high = max(finished_at(jobs[i]) for i in high)
    assert all(finished_at(jobs[i]) > last_high for i in later_batch), "a batch job overtook"

    # results went through GCS: signed URLs to RGBA PNGs of the right size
    for job_id in (high[0], batch[0]):
        body = ingest.poll(job_id)
        result = body["results"]["color"]
        image = Image.open(io.BytesIO(requests.get(result["url"], timeout=30).content))
        assert image.mode == "RGBA" and image.size == (result["width"], result["height"])
        assert np.array_equal(np.asarray(image)[..., 3], ellipse_alpha(image.height, image.width))
    blob = results_bucket(settings).get_blob(jobs[high[0]].results["color"].key)
    assert blob is not None and blob.content_type == "image/png"
    assert blob.cache_control and "immutable" in blob.cache_control


def started_at(job: Job) -> float:
    assert job.timings.started_at is not None
    return job.timings.started_at.timestamp()


def finished_at(job: Job) -> float:
    assert job.timings.finished_at is not None
    return job.timings.finished_at.timestamp()


def tier_by_tier(order: list[str], *tiers: list[str]) -> list[str]:
    """``order`` rearranged tier by tier, each tier keeping its own order in ``order``:
    equal to ``order`` exactly when every tier was taken before the next began."""
    return [job_id for tier in tiers for job_id in order if job_id in tier]


# -- dead letters -----------------------------------------------------------------------


def test_a_job_that_keeps_failing_is_dead_lettered_and_failed_with_the_reason(
    e2e_settings: Settings,
) -> None:
    settings = e2e_settings.with_overrides(segmenter="test-failing", max_attempts=2)
    ingest = Ingest(settings)
    names = Names(settings.gcp_project, settings.topic_prefix)
    subscriber = pubsub_v1.SubscriberClient()
    audit = f"projects/{settings.gcp_project}/subscriptions/{settings.topic_prefix}-audit"
    subscriber.create_subscription(request={"name": audit, "topic": names.dead_letter_topic})

    job_id = ingest.submit(variant("chelsea.png", 3), Priority.STANDARD)
    with WorkerThread(settings) as worker:
        wait_until(all_finished(ingest.app.service.backends, [job_id]), 60, "the job failing")
    assert worker.error is None

    job = ingest.app.service.get(job_id)
    assert job.state is JobState.FAILED
    assert job.error is not None and job.error.code == "dead_lettered"
    assert "gave up after 2 attempts" in job.error.message
    assert "CUDA error" in job.error.message  # the reason of the last attempt
    assert job.attempts == 2
    received = subscriber.pull(request={"subscription": audit, "max_messages": 10}, timeout=10)
    [dead] = [m.message for m in received.received_messages]
    assert dict(dead.attributes) == {
        "job_id": job_id,
        "priority": "standard",
        "delivery_attempts": "2",
    }
    subscriber.close()


# -- one effect fails ------------------------------------------------------------------


def test_a_job_whose_one_effect_fails_ends_done_with_that_error(e2e_settings: Settings) -> None:
    ingest = Ingest(e2e_settings)
    body, content_type = encode_multipart_formdata(
        [*FIELDS.items(), ("file", ("pano.jpg", panorama_jpeg(), "image/jpeg"))]
    )
    response = ingest.client.post(
        "/v1/jobs", data=body, headers={"Content-Type": content_type, **ingest.auth}
    )
    assert response.status_code == 202, response.get_data(as_text=True)
    job_id = str(response.json["id"])
    with WorkerThread(e2e_settings) as worker:
        wait_until(all_finished(ingest.app.service.backends, [job_id]), 120, "the job finishing")
    assert worker.error is None
    assert_one_effect_failed(ingest.poll(job_id))


# -- a killed worker --------------------------------------------------------------------


@dataclass
class Processes:
    settings: Settings
    env: Mapping[str, str]
    log: Path
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, **overrides: Any) -> subprocess.Popen[bytes]:
        """``python -m worker``, exactly as the launchers start it."""
        env = {**self.env, **self.settings.with_overrides(**overrides).to_env()}
        with self.log.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "worker"], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        self.started.append(process)
        return process

    def lines(self, text: str) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if text in line]


@pytest.fixture
def processes(e2e_settings: Settings, tmp_path: Path) -> Iterator[Processes]:
    env = {**os.environ, **child_env(tmp_path / "site")}
    started = Processes(e2e_settings.with_overrides(batch_size=3), env, tmp_path / "workers.log")
    yield started
    for process in started.started:  # a test that failed half-way leaves none behind
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_worker_killed_mid_batch_loses_no_job_and_redelivery_changes_no_result(
    e2e_settings: Settings, processes: Processes
) -> None:
    ingest = Ingest(e2e_settings)
    backends = ingest.app.service.backends
    photos = sorted(p.name for p in FIXTURES.glob("*.png"))
    ids = [ingest.submit(variant(name, 4), Priority.STANDARD) for name in photos]

    victim = processes.start(segmenter="test-slow")
    wait_until(
        lambda: victim.poll() is None and JobState.RUNNING in states(backends, ids).values(),
        60,
        f"the victim taking jobs:\n{processes.log.read_text()}",
    )
    # Kill it in the (slow) segmentation, not inside a Firestore transaction: the
    # emulator locks pessimistically, so a transaction killed half-way blocks its job
    # document for 60 s (production's database is OPTIMISTIC; see cutout/gcp/README.md).
    time.sleep(SLOW_S / 3)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    killed = [i for i, s in states(backends, ids).items() if s is JobState.RUNNING]
    assert killed, "the kill should land while jobs are running"

    survivor = processes.start()
    try:
        wait_until(all_finished(backends, ids), 90, f"redelivery:\n{processes.log.read_text()}")
        jobs = {i: backends.status.get(i) for i in ids}
        assert {j.state for j in jobs.values()} == {JobState.DONE}, processes.log.read_text()
        assert all(jobs[i].attempts == 2 for i in killed)
        stored = generations(e2e_settings)
        recorded = {j.results["color"].key for j in jobs.values()}
        recorded |= {j.displays["color"].key for j in jobs.values()}
        assert set(stored) == recorded  # each job's display and full rendition, once

        # Pub/Sub may deliver a message again (at least once): publish each job again
        for job_id in ids:
            backends.queue.publish(job_id, Priority.STANDARD)
        wait_until(
            lambda: len(processes.lines("acking the redelivery")) == len(ids),
            60,
            f"the redeliveries:\n{processes.log.read_text()}",
        )
    finally:
        survivor.send_signal(signal.SIGTERM)
        exit_code = survivor.wait(timeout=60)
    assert exit_code == 0, processes.log.read_text()
    assert generations(e2e_settings) == stored
    assert {i: backends.status.get(i).results for i in ids} == {
        i: j.results for i, j in jobs.items()
    }
    done = processes.lines(': done"')
    assert len(done) == len(ids), "each job is finished exactly once"


# -- a worker that dies between storing a result and recording it ----------------------


class WorkerDied(BaseException):
    """Stands for the process dying: no handler in the worker catches it."""


class DiesAfterStoring(BlobStore):
    """The real GCS store; the first result written succeeds, then the 'process dies'."""

    def __init__(self, inner: BlobStore) -> None:
        self.inner = inner
        self.written: dict[str, bytes] = {}

    def put(self, key: str, data: bytes, **kwargs: Any) -> bool:
        stored = self.inner.put(key, data, **kwargs)
        if key.startswith("results/") and not self.written:
            self.written[key] = data
            raise WorkerDied(key)
        return stored

    def get(self, key: str) -> bytes:
        return self.inner.get(key)

    def stat(self, key: str) -> BlobInfo | None:
        return self.inner.stat(key)

    def touch(self, key: str) -> BlobInfo | None:
        return self.inner.touch(key)

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def url(self, key: str, *, ttl_s: int) -> str:
        return self.inner.url(key, ttl_s=ttl_s)

    def upload_url(self, key: str, *, content_type: str, ttl_s: int) -> str:
        return self.inner.upload_url(key, content_type=content_type, ttl_s=ttl_s)

    def upload_headers(self, content_type: str) -> dict[str, str]:
        return self.inner.upload_headers(content_type)


class ShiftedSegmenter(EllipseSegmenter):
    """A different alpha from the first attempt's (as a nondeterministic GPU kernel might
    give): a re-render would store other bytes."""

    def segment(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [255 - alpha for alpha in super().segment(images)]


def test_a_redelivered_job_keeps_the_result_its_first_attempt_stored(
    e2e_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest = Ingest(e2e_settings)
    job_id = ingest.submit(variant("coffee.png", 5), Priority.HIGH)
    real = ingest.app.service.backends
    dying = DiesAfterStoring(real.blobs)
    crashing = replace(real, blobs=dying)
    first = Worker(settings=e2e_settings, backends=crashing)
    with pytest.raises(WorkerDied):
        first.work()
    [(key, data)] = dying.written.items()
    assert real.status.get(job_id).state is JobState.RUNNING
    before = generations(e2e_settings)
    assert list(before) == [key]

    # same model identity (so the same cache key), different output this time
    monkeypatch.setitem(base.SEGMENTERS, "test-ellipse", ShiftedSegmenter)
    with WorkerThread(e2e_settings, real) as worker:  # waits for the ack deadline to pass
        wait_until(all_finished(real, [job_id]), 60, "the redelivered job")
    assert worker.error is None
    job = real.status.get(job_id)
    assert (job.state, job.attempts) == (JobState.DONE, 2)
    assert job.displays["color"].key == key  # the display rendition is written first
    after = generations(e2e_settings)
    assert after[key] == before[key]  # not rewritten by the redelivery
    assert set(after) == {key, job.results["color"].key}
    assert real.blobs.get(key) == data
