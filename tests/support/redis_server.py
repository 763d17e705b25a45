"""A real Debian ``redis-server`` on a free loopback port, for the quota tests.

scripts/install-system-deps.sh installs it. When it is missing the test fails, naming
the fix: a skipped Redis test would hide that the shared-quota path was never checked.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cutout.cli.bench_ingest import free_port

START_TIMEOUT_S = 20.0


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def running_redis(workdir: Path) -> Iterator[str]:
    """Start ``redis-server`` on a free loopback port (no persistence) and yield its
    ``redis://127.0.0.1:<port>/0``; stop it on exit. RuntimeError when it cannot start."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is not installed: run scripts/install-system-deps.sh")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers_ping(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {port} ({proc.poll()})")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A redis-server of this test's own (see :func:`running_redis`); a missing or
    failing one fails the test."""
    try:
        with running_redis(tmp_path) as url:
            yield url
    except RuntimeError as exc:
        pytest.fail(str(exc))
