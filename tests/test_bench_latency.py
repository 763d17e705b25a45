"""``cutout bench latency`` runs end to end on a small photo (worker side and a real
``cutout up``, cold then warm) and ends in one JSON line whose numbers hang together."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from cutout.settings import Settings
from tests.support.segmenters import child_env
from worker.bench_latency import command

pytestmark = pytest.mark.slow


def test_bench_prints_both_stacks_against_the_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in child_env(tmp_path / "site").items():  # the worker side, the stacks
        monkeypatch.setenv(name, value)
    settings = Settings(data_dir=tmp_path / "data", url_secret="bench")
    options = ["--segmenter", "test-ellipse", "--width", "800", "--height", "600"]
    result = CliRunner().invoke(command, [*options, "--repeat", "2"], obj=settings)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    # two worker jobs and the median of each stack kind are judged; every stack run printed
    assert sum(re.search(r"\bmet\b", line) is not None for line in lines) == 4, result.output
    assert sum("against the budget" in line for line in lines) == 6, result.output
    report = json.loads(lines[-1])
    assert 0 < report["reference_encode_cpu_s"] < 5
    assert any(line.startswith("  reference: a fixed 1600x1200") for line in lines)
    assert [w["effects"][0] for w in report["worker"]] == ["color", "blackwhite"]
    for worker in report["worker"]:
        assert 0 < worker["to_display_s"] <= worker["to_full_s"]
        assert worker["display_cpu_s"] > 0 and worker["first_display_cpu_s"] > 0
        assert sorted(worker["steady_display_cpu_s"])[1] == worker["display_cpu_s"]  # median
        assert worker["display_bytes"] > 0
    assert [run["stack"] for run in report["stack"]] == ["cold", "warm"] * 2
    for run in report["stack"]:
        # a cold job's worker was asked for by the job: its ready time counts from then
        if run["stack"] == "cold":
            assert run["worker_ready_s"] > run["model_load_s"] >= 0
        else:
            assert run["worker_ready_s"] is None
        assert 0 < run["submit_to_display_s"] <= run["submit_to_full_s"]
        assert 0 < run["display_bytes"] < run["full_bytes"]
        budget = run["segment_s"] + 0.5 + (run["worker_ready_s"] or 0)
        assert run["slack_s"] == pytest.approx(budget - run["submit_to_display_s"], abs=2e-3)
