"""``cutout up --backend gcp`` as a subprocess: it starts the three emulators, runs ingest
with the GCP adapters, and, with no resident worker, a photo gets done only because
ingest's scaler claimed a start in Firestore and spawned ``python -m worker`` locally.
Ctrl-C stops ingest, the worker and the emulators."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

from cutout.cli.bench_ingest import free_port
from tests.conftest import FIXTURES
from tests.support.emulators import require_installed
from tests.support.pipeline import cutout_command, processes_with_env
from tests.support.segmenters import child_env, ellipse_alpha

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

VARIABLES = ("PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST", "STORAGE_EMULATOR_HOST")


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def test_up_runs_the_pipeline_on_emulators_it_starts_and_stops(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    require_installed(request)
    port = free_port()
    data_dir = tmp_path / "data"
    log = tmp_path / "up.log"
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    env.update(child_env(tmp_path / "site"), HOME=str(tmp_path / "home"))
    command = cutout_command(
        "--data-dir", str(data_dir), "up", "--backend", "gcp", "--port", str(port),
        "--segmenter", "test-ellipse", "--workers", "0",
    )  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 120
        while "cutout is up" not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        hosts = dict(re.findall(r"emulator: (\w+)=(\S+)", log.read_text()))
        assert set(hosts) == set(VARIABLES)

        url = f"http://127.0.0.1:{port}"
        chelsea = (FIXTURES / "chelsea.png").read_bytes()
        response = requests.post(
            f"{url}/v1/jobs", files={"file": ("chelsea.png", chelsea, "image/png")}, timeout=30
        )
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        deadline = time.monotonic() + 120
        while (job := requests.get(f"{url}/v1/jobs/{job_id}", timeout=10).json())["state"] in (
            "queued",
            "running",
        ):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        assert job["state"] == "done", (job, log.read_text())
        result = job["results"]["color"]
        assert result["url"].startswith(hosts["STORAGE_EMULATOR_HOST"])  # a signed GCS URL
        image = Image.open(io.BytesIO(requests.get(result["url"], timeout=30).content))
        assert image.mode == "RGBA" and image.size == (451, 300)
        assert np.array_equal(np.asarray(image)[..., 3], ellipse_alpha(300, 451))
        assert "starting 1 worker(s)" in log.read_text()  # ingest's scaler, not a resident

        assert len(processes_with_env("CUTOUT_DATA_DIR", str(data_dir))) >= 2  # ingest, worker
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0, log.read_text()
    finally:
        if process.poll() is None:  # the test failed half-way: let up stop what it started
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
    assert processes_with_env("CUTOUT_DATA_DIR", str(data_dir)) == []
    assert not answers(f"http://{hosts['PUBSUB_EMULATOR_HOST']}/v1/projects/p/topics")
    assert not answers(f"http://{hosts['FIRESTORE_EMULATOR_HOST']}/")
    assert not answers(f"{hosts['STORAGE_EMULATOR_HOST']}/storage/v1/b")
