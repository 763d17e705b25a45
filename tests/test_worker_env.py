"""The environment a worker process starts in (cutout.worker_processes.worker_env)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cutout.settings import Settings
from cutout.worker_processes import WORKER_ENV, worker_env


def test_a_worker_gets_the_tuning_its_settings_and_what_the_parent_had(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in WORKER_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:8085")
    monkeypatch.setenv("CUTOUT_NOT_A_SETTING", "parent only")
    env = worker_env(Settings(data_dir=tmp_path, batch_size=3))
    assert env.items() >= WORKER_ENV.items()
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"
    assert env["PUBSUB_EMULATOR_HOST"] == "127.0.0.1:8085"
    assert env["CUTOUT_BATCH_SIZE"] == "3"
    assert "CUTOUT_NOT_A_SETTING" not in env
    assert Settings.from_env(env).batch_size == 3


def test_what_the_operator_set_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert worker_env(Settings())["OMP_WAIT_POLICY"] == "ACTIVE"


def test_numpy_in_a_worker_leaves_huge_pages_alone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The variable's name is numpy's: a child started with the worker's environment
    finds huge-page advice off (``_set_madvise_hugepage`` returns the previous value)."""
    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    probe = "import numpy._core.multiarray as m; print(m._set_madvise_hugepage(True))"
    env = worker_env(Settings(data_dir=tmp_path))
    run = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"
