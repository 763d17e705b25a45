"""``cutout bench latency`` runs end to end on a small photo (worker side and a real
``cutout up``, cold then warm) and ends in one JSON line whose numbers hang together."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cutout.settings import Settings
from tests.support.segmenters import EllipseSegmenter, child_env
from worker.bench_latency import command
from worker.segmenters import base

pytestmark = pytest.mark.slow


def test_bench_prints_both_stacks_against_the_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(base.SEGMENTERS, "test-ellipse", EllipseSegmenter)  # in-process side
    for name, value in child_env(tmp_path / "site").items():  # the stack's processes
        monkeypatch.setenv(name, value)
    settings = Settings(data_dir=tmp_path / "data", url_secret="bench")
    options = ["--segmenter", "test-ellipse", "--width", "800", "--height", "600"]
    result = CliRunner().invoke(command, options, obj=settings)
    assert result.exit_code == 0, result.output
    assert result.output.count("budget ") == 4, result.output  # two worker jobs, two stacks
    report = json.loads(result.output.strip().splitlines()[-1])
    assert [w["effects"][0] for w in report["worker"]] == ["color", "blackwhite"]
    for worker in report["worker"]:
        assert 0 < worker["to_display_s"] <= worker["to_full_s"]
        assert worker["display_cpu_s"] > 0 and worker["first_display_cpu_s"] > 0
        assert worker["display_bytes"] > 0
    cold, warm = report["stack"]
    assert (cold["stack"], warm["stack"]) == ("cold", "warm")
    # the cold job's worker was asked for by the job: its ready time counts from then
    assert cold["worker_ready_s"] > cold["model_load_s"] >= 0
    assert warm["worker_ready_s"] is None
    for run in (cold, warm):
        assert 0 < run["submit_to_display_s"] <= run["submit_to_full_s"]
        assert 0 < run["display_bytes"] < run["full_bytes"]
