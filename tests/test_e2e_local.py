"""End to end on one machine: ``cutout up`` as a subprocess, a real photo over HTTP,
polled to ``done``, the result checked; ``cutout submit --out``; a clean Ctrl-C; a job
whose one effect fails ends ``done`` with that effect's error.

No weights exist on a test machine, so ``up`` must fall back to the weights-free
segmenter, say so loudly, and label every job with it.
"""

from __future__ import annotations

import io
import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

from cutout.samples import jpeg_bytes, photo_like
from tests.conftest import FIXTURES
from tests.support.partial_failure import FIELDS, assert_one_effect_failed, panorama_jpeg
from tests.support.pipeline import Pipeline, cutout_command

pytestmark = pytest.mark.slow


def test_a_photo_through_the_running_pipeline_comes_back_as_an_rgba_png(
    pipeline: Pipeline,
) -> None:
    assert "FALLBACK" in pipeline.log.read_text()
    chelsea = (FIXTURES / "chelsea.png").read_bytes()
    response = requests.post(
        f"{pipeline.url}/v1/jobs",
        files={"file": ("chelsea.png", chelsea, "image/png")},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    job = pipeline.wait_done(response.json()["id"])
    assert job["state"] == "done", job
    assert job["model"]["fallback"] is True
    result = job["results"]["color"]
    image = Image.open(io.BytesIO(requests.get(result["url"], timeout=30).content))
    assert image.format == "PNG" and image.mode == "RGBA"
    assert image.size == (451, 300) == (result["width"], result["height"])
    alpha = np.asarray(image)[..., 3]
    assert alpha.min() < 50 and alpha.max() > 200, "alpha should separate subject and background"


def test_cli_submit_waits_and_downloads_then_ctrl_c_stops_everything(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = ("--data-dir", str(pipeline.data), "submit", str(FIXTURES / "coffee.png"),
            "--url", pipeline.url, "--out", str(out), "--priority", "high")  # fmt: skip
    done = subprocess.run(
        cutout_command(*args),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout.splitlines()[-1])
    assert job["state"] == "done"
    # high needs a key: the one `cutout up` minted, which submit found by itself
    assert job["priority"] == "high"
    saved = Image.open(out / "coffee.color.png")
    assert saved.size == (600, 400) and saved.mode == "RGBA"

    assert pipeline.processes()
    pipeline.process.send_signal(signal.SIGINT)
    assert pipeline.process.wait(timeout=40) == 0
    assert pipeline.processes() == []


def test_the_first_job_starts_a_worker_that_exits_when_idle(pipeline: Pipeline) -> None:
    assert pipeline.workers() == []  # idle pipeline: no worker, no GPU cost
    chelsea = (FIXTURES / "chelsea.png").read_bytes()
    response = requests.post(
        f"{pipeline.url}/v1/jobs", files={"file": ("c.png", chelsea, "image/png")}, timeout=30
    )
    job = pipeline.wait_done(response.json()["id"])
    assert job["state"] == "done"
    assert job["worker"]["cold_start"] is True
    pipeline.wait_for(lambda: pipeline.workers() == [], "the worker exits after 3 s idle")


def test_a_warm_call_starts_a_worker_before_any_upload(pipeline: Pipeline) -> None:
    assert pipeline.workers() == []
    warm = requests.post(f"{pipeline.url}/v1/warm", timeout=10).json()
    assert warm["started"] == 1
    pipeline.wait_for(lambda: len(pipeline.workers()) == 1, "a worker process starts")
    again = requests.post(f"{pipeline.url}/v1/warm", timeout=10).json()
    assert again["started"] == 0  # on its way or alive: a no-op


def test_a_four_effect_job_shows_its_first_result_before_the_last(pipeline: Pipeline) -> None:
    names = ["color", "blackwhite", "popart", "retro8bit"]
    photo = jpeg_bytes(photo_like(4000, 3000))
    auth = pipeline.local_key()  # polled every 50 ms: past the anonymous quota
    response = requests.post(
        f"{pipeline.url}/v1/jobs",
        files={"file": ("big.jpg", photo, "image/jpeg")},
        data={"effects": ",".join(names)},
        headers=auth,
        timeout=30,
    )
    assert response.status_code == 202, response.text
    seen: list[int] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        job = requests.get(
            f"{pipeline.url}/v1/jobs/{response.json()['id']}", headers=auth, timeout=10
        ).json()
        seen.append(len(job["results"]))
        if job["state"] in ("done", "failed"):
            break
        time.sleep(0.05)
    assert job["state"] == "done", job
    assert set(job["results"]) == set(names)
    assert any(0 < n < len(names) for n in seen), f"never saw a partial job: {seen}"


def test_a_job_whose_one_effect_fails_ends_done_with_that_error(pipeline: Pipeline) -> None:
    response = requests.post(
        f"{pipeline.url}/v1/jobs",
        files={"file": ("pano.jpg", panorama_jpeg(), "image/jpeg")},
        data=FIELDS,
        timeout=30,
    )
    assert response.status_code == 202, response.text
    assert_one_effect_failed(pipeline.wait_done(response.json()["id"], timeout_s=300))
