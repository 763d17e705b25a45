"""``cutout bench model --smoke`` and ``scripts/gpu_bench.py --smoke`` run end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cutout.worker_processes import WORKER_ENV
from worker.bench_model import command

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[1]


def test_bench_model_smoke(random_checkpoint: Path, tmp_path: Path) -> None:
    args = ["--smoke", "--weights", str(random_checkpoint), "--out", str(tmp_path)]
    result = CliRunner().invoke(command, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    for key in ("reference_s", "ours_s", "speedup", "reference_cold_s", "ours_cold_s"):
        assert summary[key] > 0, key
    assert summary["alpha_max_diff"] <= 2  # fp32 against the reference, same weights
    assert set(summary["per_input"]) == {"chelsea.png", summary["input"]}
    assert "warm_up" in summary["ours_startup"]


def test_gpu_bench_smoke(random_safetensors: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "gpu_bench.py"),
            "--smoke",
            "--out",
            str(tmp_path),
            "--weights",
            str(random_safetensors),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_bench.json").read_text())
    assert report["worker_env"] == WORKER_ENV  # it re-ran itself as a worker runs
    assert set(report["sweep"]) == {"fp32/batch1", "fp32/batch2"}
    assert report["sweep"]["fp32/batch2"]["images_per_s"] > 0
    assert "warm_up" in report["cold_start"] and report["foreground_s"] > 0
