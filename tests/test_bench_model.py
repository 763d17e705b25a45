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
    for path in ("reference", "ours", "ours_torch"):
        assert summary[f"{path}_s"] > 0 and summary[f"{path}_cold_s"] > 0, path
    for path in ("ours", "ours_torch"):
        assert summary[f"{path}_speedup"] > 0 and summary[f"{path}_alpha_max_diff"] <= 2, path
    assert summary["openvino_over_torch"] > 0 and summary["openvino_export_s"] > 0
    assert set(summary["per_input"]) == {"chelsea.png", summary["input"]}
    assert set(summary["per_input"]["chelsea.png"]) == {"reference", "ours", "ours-torch"}
    assert summary["ours_startup"]["warm_up"] == 0.0 and "export" in summary["ours_startup"]
    assert "build" in summary["ours_torch_startup"]
    assert len(list((tmp_path / "data" / "openvino").glob("fast-*"))) == 1  # exported once


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
