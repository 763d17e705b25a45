"""``cutout report`` over real local stores: it reads the window's jobs and worker lives
(and nothing outside the window), prints a table and one JSON line equal to the summary
of those records, and draws its plot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cutout.backends import open_backends
from cutout.cli.main import cli
from cutout.cli.report import parse_moment
from cutout.job import Job
from cutout.prices import load_prices
from cutout.report import read_lives
from cutout.settings import Settings
from cutout.summary import summarize
from cutout.worker_life import WorkerLife
from tests.support.records import T0, at, job, life, sample

WINDOW = ["--since", T0.isoformat(), "--until", (T0.replace(hour=10)).isoformat()]


def _records() -> tuple[list[Job], list[WorkerLife]]:
    """The sample hour, plus a job submitted before the window and a worker started
    after it."""
    jobs, lives = sample()
    jobs.append(job(queued=-60.0, started=1.0, finished=3.0, worker="a"))
    lives.append(life("later", started=7200.0, ready=7210.0))
    return jobs, lives


@pytest.fixture
def stored(settings: Settings) -> Settings:
    backends = open_backends(settings)
    jobs, lives = _records()
    for j in jobs:
        backends.status.create(j)
    for w in lives:
        backends.launcher.record_life(w)
    return settings


def test_the_report_prints_a_table_and_the_summary_of_the_window(
    stored: Settings, tmp_path: Path
) -> None:
    plot = tmp_path / "report.png"
    result = CliRunner().invoke(
        cli, ["--data-dir", str(stored.data_dir), "report", *WINDOW, "--plot", str(plot)]
    )
    assert result.exit_code == 0, result.output
    *table, line = [ln for ln in result.stdout.splitlines() if ln]
    summary = json.loads(line)
    jobs, lives = _records()
    until = at(3600.0)
    assert until is not None
    expected = summarize(jobs[:4], lives[:2], until=until, prices=load_prices())
    assert summary["jobs"] == 4 and summary["workers_started"] == 2
    assert summary["cache_hit_rate"] == expected["cache_hit_rate"] == 0.25
    assert summary["to_done_s"] == expected["to_done_s"]
    assert summary["busy_share"] == pytest.approx(expected["busy_share"])
    assert summary["errors_by_code"] == {"image_corrupt": 1}
    assert any(row.startswith("to done (high)") for row in table)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 10_000


def test_one_tier_only(stored: Settings) -> None:
    result = CliRunner().invoke(
        cli, ["--data-dir", str(stored.data_dir), "report", *WINDOW, "--tier", "high"]
    )
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["jobs"] == 1 and summary["tiers"]["high"]["jobs"] == 1


def test_worker_lives_are_read_page_by_page(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("cutout.report.MAX_LIVES_LIMIT", 2)
    backends = open_backends(settings)
    for i in range(7):
        backends.launcher.record_life(life(f"w{i}", started=10.0 * (i // 3)))  # threes tie
    read = read_lives(backends, T0, T0.replace(hour=10))
    assert [w.worker_id for w in read] == [f"w{i}" for i in range(7)]


def test_moments_are_iso_times_or_durations_back() -> None:
    assert parse_moment("2h", before=T0) == T0.replace(hour=7)
    assert parse_moment("2026-12-01T09:00:00", before=T0) == T0
    with pytest.raises(Exception, match="neither"):
        parse_moment("yesterday", before=T0)


def test_a_window_that_ends_before_it_starts_is_refused(settings: Settings) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "--data-dir",
            str(settings.data_dir),
            "report",
            "--since",
            "2026-12-02T00:00:00",
            "--until",
            "2026-12-01T00:00:00",
        ],
    )
    assert result.exit_code == 2 and "not before" in result.output
