"""The backfill acceptance test on Google's emulators, by reference: a gs:// source on
fake-gcs-server (nested folders, ``a/cat.jpg`` and ``a/cat.png``, 4 bad files, 6
byte-identical duplicates; 70 items, smaller than the local test's 400 to keep CI time
low: about 40-70 s on 2 shared cores) is backfilled into a gs:// destination through a
real ingest (IngestApp over HTTP, GCP adapters) and the real worker loop. Ingest never
reads a photo; the worker reads each object at its listed generation and writes DEST.
The CLI is interrupted (SIGINT) after at least 20 submissions by its journal and run
again; the end state: exactly one output per good item per effect in DEST mirroring SRC,
the 4 failures in DEST's report with their codes, one model pass per distinct photo,
counts that add up, one job per item; plus an object overwritten after its job was made
fails ``input_changed``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from google.cloud import storage
from PIL import Image
from werkzeug.serving import make_server
from werkzeug.wrappers import Request

from cutout.backends import open_backends
from cutout.backfill import naming
from cutout.backfill.journal import submissions
from cutout.keys import key_pepper
from cutout.ports.status import JobFilter
from cutout.settings import Settings
from ingest.app import IngestApp
from tests.support.keys import add_key
from tests.support.pipeline import cutout_command
from tests.support.segmenters import COUNT_LOG_VARIABLE, CountingSegmenter
from tests.test_e2e_gcp import WorkerThread
from worker.segmenters import base

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

EFFECTS = ("color", "blackwhite")
DISTINCT, DUPLICATES, BAD = 60, 6, 4
FOLDERS = ("", "a", "a/b", "d")


def photo(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def fill_source(bucket: storage.Bucket, prefix: str) -> dict[str, bytes]:
    good: dict[str, bytes] = {}
    for n in range(DISTINCT):
        good[f"{FOLDERS[n % len(FOLDERS)]}/p{n:03d}.png".lstrip("/")] = photo(n)
    good["a/cat.png"] = good.pop("a/p001.png")
    good["a/cat.jpg"] = good.pop("a/p005.png")
    for n in range(DUPLICATES):
        good[f"dups/copy{n}.png"] = photo(10 + n)
    for rel, data in good.items():
        bucket.blob(prefix + rel).upload_from_string(data, content_type="image/png")
    for n in range(BAD):
        bad = b"\xff\xd8\xff\xe0" + bytes(200 + n)
        bucket.blob(f"{prefix}bad/broken{n}.jpg").upload_from_string(bad)
    return good


class ServedIngest:
    """IngestApp with the GCP adapters behind a real HTTP server, for the CLI."""

    def __init__(self, settings: Settings) -> None:
        app = IngestApp(settings, open_backends(settings))

        def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            return app.dispatch(Request(environ))(environ, start_response)

        self.server = make_server("127.0.0.1", 0, wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ServedIngest:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()


@pytest.fixture
def backfill_settings(
    gcp_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Settings]:
    monkeypatch.setitem(base.SEGMENTERS, "test-counting", CountingSegmenter)
    monkeypatch.setenv(COUNT_LOG_VARIABLE, str(tmp_path / "passes.log"))
    settings = gcp_settings.with_overrides(
        segmenter="test-counting", key_pepper="bf-pepper", poll_s=0.3, batch_wait_ms=50,
        idle_exit_s=0.0, autoscale=False, data_dir=tmp_path / "data",
    )  # fmt: skip
    open_backends(settings)  # creates the service's buckets on the emulator
    yield settings


def test_gs_backfill_by_reference_resumes_and_ends_exactly_once(
    backfill_settings: Settings, tmp_path: Path
) -> None:
    settings = backfill_settings
    gcs = storage.Client(project=settings.gcp_project)
    source_bucket = gcs.create_bucket(f"{settings.topic_prefix}-catalogue")
    dest_bucket = gcs.create_bucket(f"{settings.topic_prefix}-outputs")
    src, dest = f"gs://{source_bucket.name}/photos/", f"gs://{dest_bucket.name}/cutouts/"
    good = fill_source(source_bucket, "photos/")
    backends = open_backends(settings)
    token = add_key(backends.keys, key_pepper(settings), allowed_sources=(src,),
                    allowed_destinations=(dest,))  # fmt: skip

    with ServedIngest(settings) as ingest, WorkerThread(settings) as worker:
        command = cutout_command("--data-dir", str(settings.data_dir), "backfill", src, dest,
                                 "--api", ingest.url, "--api-key", token,
                                 "--effects", ",".join(EFFECTS))  # fmt: skip
        env = {**os.environ, **settings.to_env()}
        dry = subprocess.run([*command, "--dry-run"], capture_output=True, text=True, env=env)
        assert dry.returncode == 0, dry.stderr
        listed = json.loads(dry.stdout)
        assert listed["items"] == len(good) + BAD
        batch = listed["batch"]
        journal = settings.data_dir / "backfill" / batch / naming.REPORT_DIR / f"{batch}.jsonl"

        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        deadline = time.monotonic() + 120
        while submissions(journal) < 20:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the journal never reached 20 submissions"
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
        assert submissions(journal) >= 20

        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=240)
        assert done.returncode == 0, done.stderr
        assert worker.error is None
    summary = json.loads(done.stdout.splitlines()[-1])

    outputs = Counter(
        b.name.removeprefix("cutouts/") for b in gcs.list_blobs(dest_bucket, prefix="cutouts/")
    )
    expected = {naming.output_name(rel, e, "png") for rel in good for e in EFFECTS}
    assert set(outputs) - {naming.FAILURES_FILE, naming.SUMMARY_FILE} == expected
    assert set(outputs.values()) == {1}

    report = dest_bucket.blob("cutouts/" + naming.FAILURES_FILE).download_as_text()
    failures = list(csv.DictReader(io.StringIO(report)))
    assert sorted(row["path"] for row in failures) == [f"bad/broken{n}.jpg" for n in range(BAD)]
    assert {row["code"] for row in failures} <= {"image_truncated", "image_corrupt"}

    assert summary["items"] == len(good) + BAD and summary["pending"] == 0
    assert summary["done"] + summary["cached"] + summary["failed"] == summary["items"]
    assert summary["failed"] == BAD

    passes = Counter((tmp_path / "passes.log").read_text().split())
    assert len(passes) == DISTINCT and set(passes.values()) == {1}, passes.most_common(3)
    counts = backends.status.count_by_state(JobFilter(batch_id=batch))
    assert sum(counts.values()) == len(good) + BAD, "one job per item, never a second"


def test_an_object_overwritten_after_submission_fails_input_changed(
    backfill_settings: Settings,
) -> None:
    settings = backfill_settings
    gcs = storage.Client(project=settings.gcp_project)
    bucket = gcs.create_bucket(f"{settings.topic_prefix}-changing")
    blob = bucket.blob("in/p.png")
    blob.upload_from_string(photo(1), content_type="image/png")
    blob.reload()
    src, dest = f"gs://{bucket.name}/in/", f"gs://{bucket.name}/out/"
    backends = open_backends(settings)
    token = add_key(backends.keys, key_pepper(settings), allowed_sources=(src,),
                    allowed_destinations=(dest,))  # fmt: skip
    app = IngestApp(settings, backends)
    from werkzeug.test import Client

    client = Client(lambda env, start: app.dispatch(Request(env))(env, start))
    item = {"uri": src + "p.png", "generation": blob.generation, "relative_path": "p.png"}
    response = client.post("/v1/batches/bf-x/items", json={"dest": dest, "items": [item]},
                           headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert response.status_code == 200, response.get_data(as_text=True)
    job_id = response.json["items"][0]["id"]
    bucket.blob("in/p.png").upload_from_string(photo(2), content_type="image/png")

    with WorkerThread(settings):
        deadline = time.monotonic() + 60
        while not backends.status.get(job_id).state.is_finished:
            assert time.monotonic() < deadline, "the job never finished"
            time.sleep(0.2)
    job = backends.status.get(job_id)
    assert job.error is not None and job.error.code == "input_changed", job.error
    assert not list(gcs.list_blobs(bucket, prefix="out/")), "nothing delivered"
