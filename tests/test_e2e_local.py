"""End to end on one machine: ``cutout up`` as a subprocess, a real photo over HTTP,
polled to ``done``, the result checked; ``cutout submit --out``; a clean Ctrl-C.

No weights exist on a test machine, so ``up`` must fall back to the weights-free
segmenter, say so loudly, and label every job with it.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

from cutout.cli.bench_ingest import free_port
from tests.conftest import FIXTURES

pytestmark = pytest.mark.slow


class Pipeline:
    def __init__(self, url: str, process: subprocess.Popen[str], log: Path, data: Path) -> None:
        self.url = url
        self.process = process
        self.log = log
        self.data = data

    def processes(self) -> list[int]:
        return processes_with_env("CUTOUT_DATA_DIR", str(self.data))

    def workers(self) -> list[int]:
        return [pid for pid in self.processes() if b"-m\x00worker" in _cmdline(pid)]

    def wait_for(self, condition: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            assert time.monotonic() < deadline, f"{what}: not within {timeout_s} s\n" + (
                self.log.read_text()
            )
            time.sleep(0.2)

    def wait_done(self, job_id: str, timeout_s: float = 180) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            job = requests.get(f"{self.url}/v1/jobs/{job_id}", timeout=10).json()
            if job["state"] in ("done", "failed"):
                return job
            time.sleep(0.3)
        raise AssertionError(f"job {job_id} not finished in {timeout_s} s:\n{self.log.read_text()}")


def cutout_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "cutout", *args]


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    port = free_port()
    log = tmp_path / "up.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            cutout_command("--data-dir", str(tmp_path / "data"), "up", "--port", str(port)),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            env={**os.environ, "HOME": str(tmp_path / "home"), "CUTOUT_IDLE_EXIT_S": "3"},
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while "cutout is up" not in log.read_text():
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    pipeline = Pipeline(url, process, log, tmp_path / "data")
    yield pipeline
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)


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
    done = subprocess.run(
        cutout_command(
            "submit", str(FIXTURES / "coffee.png"), "--url", pipeline.url, "--out", str(out)
        ),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout.splitlines()[-1])
    assert job["state"] == "done"
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


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def processes_with_env(name: str, value: str) -> list[int]:
    """PIDs of live processes whose environment has ``name=value``."""
    wanted = f"{name}={value}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if wanted in (entry / "environ").read_bytes().split(b"\0"):
                status = (entry / "status").read_text()
                if "State:\tZ" not in status:
                    found.append(int(entry.name))
        except OSError:
            continue
    return found
