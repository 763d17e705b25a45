"""The emulator harness's own logic: what counts as missing, and stopping by PID only
the process that is still ours."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cutout import procfs
from cutout.gcp import emulators
from cutout.gcp.emulators import Server

ROOT = Path(__file__).resolve().parents[1]


def test_missing_java_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emulators.shutil, "which", lambda name: None)
    assert any(gap.startswith("java") for gap in emulators.missing())


def test_stop_kills_by_pid_but_not_a_recycled_pid() -> None:
    ours = subprocess.Popen(["sleep", "4321"], start_new_session=True)
    stranger = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        # asked for at once, while "ours" may still be exec'ing (its command line empty)
        ours_started = procfs.start_time(ours.pid)
        stranger_started = procfs.start_time(stranger.pid)
        assert ours_started is not None and stranger_started is not None
        servers = [
            Server("fake", ours.pid, ours_started, 4321, "X", "x", "unused", "/dev/null"),
            # same PID, other start time: a recycled PID must be left alone
            Server("gone", stranger.pid, stranger_started - 1, 9876, "Y", "y", "u", "/dev/null"),
        ]
        started = time.monotonic()
        emulators.stop_all(servers)
        ours.wait(timeout=5)  # "sleep 4321" ends only if it was killed
        assert stranger.poll() is None
        assert time.monotonic() - started < emulators.STOP_TIMEOUT_S
    finally:
        stranger.kill()
        stranger.wait()


def run_pytest_without_java(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A pytest run with the harness, on a machine image where java (hence both Cloud
    SDK emulators) is missing."""
    (folder / "pytest.ini").write_text("[pytest]\nmarkers =\n    emulator: needs emulators\n")
    (folder / "conftest.py").write_text('pytest_plugins = ["tests.support.emulators"]\n')
    (folder / "test_sample.py").write_text(
        "import pytest\n\n\n"
        "@pytest.mark.emulator\ndef test_on_emulators(gcp_emulators):\n    pass\n\n\n"
        "def test_plain():\n    pass\n"
    )
    env = {**os.environ, "PATH": str(Path(sys.executable).parent), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(folder), *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_run_without_emulators_skips_their_tests_and_ends_with_one_loud_line(
    tmp_path: Path,
) -> None:
    done = run_pytest_without_java(tmp_path)
    assert done.returncode == 0, done.stdout
    lines = done.stdout.strip().splitlines()
    assert lines[-1].startswith("NOT TESTED: 1 emulator tests"), done.stdout
    assert "missing java" in lines[-1]
    assert "1 passed, 1 skipped" in lines[-2]
    assert sum("NOT TESTED" in line for line in lines) == 1


def test_require_emulators_turns_the_skip_into_a_failure(tmp_path: Path) -> None:
    done = run_pytest_without_java(tmp_path, "--require-emulators")
    assert done.returncode == 1, done.stdout
    assert "1 passed, 1 error" in done.stdout.splitlines()[-2]
    assert "Failed: GCP emulators not installed: missing java" in done.stdout
