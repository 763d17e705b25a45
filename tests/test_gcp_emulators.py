"""The emulator harness's own logic: what counts as missing, and stopping by PID only
the process that is still ours."""

from __future__ import annotations

import subprocess
import time

import pytest

from cutout.gcp import emulators
from cutout.gcp.emulators import Server


def test_missing_java_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emulators.shutil, "which", lambda name: None)
    assert any(gap.startswith("java") for gap in emulators.missing())


def test_stop_kills_by_pid_but_not_a_recycled_pid() -> None:
    ours = subprocess.Popen(["sleep", "4321"], start_new_session=True)
    stranger = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        servers = [
            Server("fake", ours.pid, 4321, "X", "x", "http://unused", "/dev/null"),
            # same PID slot, other command line: a recycled PID must be left alone
            Server("gone", stranger.pid, 9876, "Y", "y", "http://unused", "/dev/null"),
        ]
        started = time.monotonic()
        emulators.stop_all(servers)
        ours.wait(timeout=5)  # "sleep 4321" ends only if it was killed
        assert stranger.poll() is None
        assert time.monotonic() - started < emulators.STOP_TIMEOUT_S
    finally:
        stranger.kill()
        stranger.wait()
