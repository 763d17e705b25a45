"""LocalLauncher's own part: stopping its worker processes, refusing bad counts,
forgetting long-gone workers (spawned workers beating: the launcher contract)."""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cutout.local import LocalLauncher
from cutout.ports import WorkerBeat
from cutout.settings import Settings


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
