"""``cutout up`` as a subprocess, for end-to-end and browser tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import requests

from cutout.cli.bench_ingest import free_port


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

    def wait_done(
        self, job_id: str, timeout_s: float = 180, headers: dict[str, str] | None = None
    ) -> dict:
        """Poll the job as the page does: at the pace its ``Retry-After`` asks (a 429
        waits out the quota), so tests stay within the default anonymous quota."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            response = requests.get(f"{self.url}/v1/jobs/{job_id}", headers=headers, timeout=10)
            wait = min(float(response.headers.get("Retry-After", 1)), 5.0)
            if response.status_code != 429:
                job = response.json()
                if job["state"] in ("done", "failed"):
                    return job
            time.sleep(wait)
        raise AssertionError(f"job {job_id} not finished in {timeout_s} s:\n{self.log.read_text()}")

    def local_key(self) -> dict[str, str]:
        """Headers presenting the secret key ``cutout up`` minted (tier high, big quota)."""
        token = (self.data / "cli-key").read_text().strip()
        return {"Authorization": f"Bearer {token}"}


def cutout_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "cutout", *args]


def run_pipeline(
    tmp_path: Path, env: dict[str, str] | None = None, up_args: tuple[str, ...] = ()
) -> Iterator[Pipeline]:
    """Start ``cutout up`` on a free port (fallback segmenter: HOME has no weights, and
    workers exit after 3 s idle), with ``up_args`` added to ``up`` and ``env`` to its
    environment. Afterwards, stop it as a user would (SIGTERM), then kill anything of it
    still alive: ingest runs in a process group of its own."""
    port = free_port()
    log = tmp_path / "up.log"
    base = {**os.environ, "HOME": str(tmp_path / "home"), "CUTOUT_IDLE_EXIT_S": "3"}
    command = ("--data-dir", str(tmp_path / "data"), "up", "--port", str(port), *up_args)
    with log.open("w") as out:
        process = subprocess.Popen(
            cutout_command(*command),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            env={**base, **(env or {})},
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while "cutout is up" not in log.read_text():
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    pipeline = Pipeline(url, process, log, tmp_path / "data")
    try:
        yield pipeline
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
        for pid in pipeline.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


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
