"""LocalLauncher's own part: starting real worker processes and stopping them."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pytest

from cutout.local import LocalLauncher
from cutout.ports import WorkerBeat
from cutout.settings import Settings

HELPER = Path(__file__).with_name("local_procs.py")
ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def wait_for(predicate: Callable[[], T | None], within_s: float = 60, what: str = "it") -> T:
    deadline = time.monotonic() + within_s
    while not (result := predicate()):
        assert time.monotonic() < deadline, f"no {what} within {within_s} s"
        time.sleep(0.05)
    return result


@pytest.mark.slow
def test_started_workers_beat_and_stop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The children read their settings from CUTOUT_* only (a stray parent variable would
    make Settings.from_env fail), beat into the same database, and say goodbye on stop."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("CUTOUT_NOT_A_SETTING", "parent only")
    settings = Settings(data_dir=tmp_path / "data", url_secret="x")
    launcher = LocalLauncher(settings, command=[sys.executable, str(HELPER), "worker"])
    try:
        launcher.start(2)
        pids = launcher.running()
        assert len(pids) == 2
        beats = wait_for(
            lambda: b if len(b := launcher.alive(max_age_s=30)) == 2 else None,
            what="two beating workers",
        )
        assert {b.worker_id for b in beats} == {f"worker-{pid}" for pid in pids}
    finally:
        launcher.stop(timeout_s=30)
    assert launcher.running() == []
    assert launcher.alive(max_age_s=30) == []
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_stop_kills_a_worker_that_ignores_sigterm(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", url_secret="x")
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    launcher = LocalLauncher(settings, command=[sys.executable, "-c", stubborn])
    launcher.start(1)
    [pid] = launcher.running()
    time.sleep(0.5)  # let it install the handler; a kill before that also passes
    started = time.monotonic()
    launcher.stop(timeout_s=1)
    assert time.monotonic() - started < 30
    assert launcher.running() == []
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_start_refuses_a_negative_count(tmp_path: Path) -> None:
    launcher = LocalLauncher(Settings(data_dir=tmp_path, url_secret="x"))
    with pytest.raises(ValueError):
        launcher.start(-1)
    launcher.start(0)
    assert launcher.running() == []


def test_goodbye_forgets_long_gone_workers(tmp_path: Path) -> None:
    launcher = LocalLauncher(Settings(data_dir=tmp_path, url_secret="x"))
    launcher.beat(WorkerBeat(worker_id="ancient", at=datetime(2020, 1, 1, tzinfo=UTC)))
    assert [b.worker_id for b in launcher.alive(max_age_s=1e10)] == ["ancient"]
    launcher.goodbye("someone-else")
    assert launcher.alive(max_age_s=1e10) == []
