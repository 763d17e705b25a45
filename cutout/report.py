"""What ``cutout report`` reads and prints: the jobs submitted in a window and the lives
of the workers started in it, read page by page from the status store and the launcher
(either backend), summarised by :func:`cutout.summary.summarize` and shown as a table.

Reads are bounded: at most ``max_jobs`` jobs and ``max_lives`` worker lives (a window
holding more is refused, naming the bound, rather than summarised from part of it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cutout.backends import Backends
from cutout.errors import InvalidInput
from cutout.job import Job, Priority
from cutout.ports.launcher import MAX_LIVES_LIMIT
from cutout.ports.status import MAX_FIND_LIMIT, JobFilter
from cutout.worker_life import WorkerLife

DEFAULT_MAX_JOBS = 200_000
DEFAULT_MAX_LIVES = 20_000


@dataclass(frozen=True)
class Records:
    """The records of one window, ready for :func:`~cutout.summary.summarize`."""

    jobs: list[Job]
    lives: list[WorkerLife]
    since: datetime
    until: datetime


def read_jobs(
    backends: Backends, since: datetime, until: datetime, *, max_jobs: int = DEFAULT_MAX_JOBS
) -> list[Job]:
    """Jobs created in ``[since, until)``, oldest first."""
    where, jobs, cursor = JobFilter(since=since, until=until), [], None
    while True:
        page = backends.status.find_page(where, limit=MAX_FIND_LIMIT, cursor=cursor)
        jobs += page.jobs
        if len(jobs) > max_jobs:
            raise InvalidInput(f"more than {max_jobs} jobs in the window; narrow it")
        if (cursor := page.next_cursor) is None:
            return jobs[::-1]


def read_lives(
    backends: Backends, since: datetime, until: datetime, *, max_lives: int = DEFAULT_MAX_LIVES
) -> list[WorkerLife]:
    """Lives of the workers started in ``[since, until)``, oldest first."""
    lives: list[WorkerLife] = []
    while True:
        after = lives[-1] if lives else None
        page = backends.launcher.lives(since, until, limit=MAX_LIVES_LIMIT, after=after)
        lives += page
        if len(lives) > max_lives:
            raise InvalidInput(f"more than {max_lives} worker lives in the window; narrow it")
        if len(page) < MAX_LIVES_LIMIT:
            return lives


def read_window(
    backends: Backends, since: datetime, until: datetime, *, tier: Priority | None = None
) -> Records:
    """The window's jobs (of ``tier`` only, if given) and worker lives."""
    jobs = read_jobs(backends, since, until)
    if tier is not None:
        jobs = [j for j in jobs if j.priority is tier]
    return Records(jobs=jobs, lives=read_lives(backends, since, until), since=since, until=until)


# ---- the table ------------------------------------------------------------------------


def _num(value: Any, unit: str = "", digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}{unit}"
    return f"{value}{unit}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _distribution_row(name: str, d: dict[str, Any]) -> list[str]:
    return [name, str(d["count"]), *(_num(d[k], " s") for k in ("p50", "p95", "p99", "max"))]


def _columns(rows: Iterable[list[str]]) -> list[str]:
    rows = list(rows)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]


def table(summary: dict[str, Any]) -> str:
    """The summary as plain text: latencies per tier, then workers, cost and errors."""
    rows = [["latency", "n", "p50", "p95", "p99", "max"]]
    rows.append(_distribution_row("to first result", summary["to_first_result_s"]))
    rows.append(_distribution_row("to done", summary["to_done_s"]))
    rows.append(_distribution_row("queue wait", summary["queue_wait_s"]))
    rows.append(_distribution_row("service", summary["service_s"]))
    for tier, group in summary["tiers"].items():
        if group["jobs"]:
            rows.append(_distribution_row(f"to done ({tier})", group["to_done_s"]))
    facts = [
        ["jobs", _num(summary["jobs"])],
        ["photos processed", _num(summary["photos"])],
        [
            "cold starts (visible)",
            f"{summary['cold_starts']} ({_pct(summary['cold_start_share'])})",
        ],
        ["workers started", _num(summary["workers_started"])],
        ["workers that served nothing", _pct(summary["idle_worker_share"])],
        ["busy share of worker time", _pct(summary["busy_share"])],
        ["GPU-seconds", _num(summary["gpu_seconds"], digits=1)],
        ["cost", _num(summary["cost_usd"], digits=4) + " USD"],
        ["per 1000 photos", _num(summary["cost_per_1000_photos_usd"], digits=3) + " USD"],
        ["per 1000 requests", _num(summary["cost_per_1000_requests_usd"], digits=3) + " USD"],
        ["cache hits", _pct(summary["cache_hit_rate"])],
        ["errors", _pct(summary["error_share"])],
    ]
    facts += [[f"  error {code}", str(n)] for code, n in summary["errors_by_code"].items()]
    facts += [
        [f"key {key}", f"{use.get('jobs', 0)} jobs, {_num(use['cost_usd'], digits=4)} USD"]
        for key, use in summary["keys"].items()
    ]
    return "\n".join([*_columns(rows), "", *_columns(facts)])
