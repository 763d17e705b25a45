"""``cutout bench burst`` in a few seconds: the stack answers, nothing is lost, every
refusal says when to come back, and the report ends with one JSON line."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cutout.cli.main import cli

pytestmark = pytest.mark.slow


def test_a_short_burst_loses_nothing_and_reports_one_json_line() -> None:
    args = ["bench", "burst", "--rate", "2", "--normal-s", "1", "--burst-s", "1"]
    args += ["--drain-s", "120"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["sent"] == 2 + 20
    assert report["accepted"] + report["shed"] == report["sent"]
    assert report["server_errors_5xx"] == 0
    assert report["refused_without_retry_after"] == 0
    assert report["lost"] == 0
    assert 0 < report["ingest_p50_ms"] <= report["ingest_p99_ms"]
