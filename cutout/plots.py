"""The report's and the planner's plots (matplotlib's object API: no display, no global state):

- :func:`plot_records`: the latency CDF per tier (submitted → done) and a timeline of
  workers alive against jobs in the system (submitted, not yet finished);
- :func:`plot_sweep`: cost per 1000 photos against P95 for each setting of a sweep, the
  target P95 and the recommended setting marked.

Both take what the report and the planner already have (records, or summary rows), so the
two commands draw the same pictures from real and simulated runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from cutout import metrics
from cutout.job import Job
from cutout.worker_life import WorkerLife


def _steps(events: list[tuple[float, int]]) -> tuple[list[float], list[int]]:
    """A step curve from (time, +1/-1) events: x and the running total after each."""
    xs, ys, level = [], [], 0
    for t, change in sorted(events):
        level += change
        xs.append(t)
        ys.append(level)
    return xs, ys


def plot_records(
    jobs: Sequence[Job],
    lives: Sequence[WorkerLife],
    *,
    since: datetime,
    until: datetime,
    path: Path,
    title: str,
) -> None:
    """Latency CDF per tier and the workers-vs-jobs timeline, minutes from ``since``."""
    fig = Figure(figsize=(12, 4.5))
    cdf, timeline = fig.subplots(1, 2)
    for tier, group in metrics.by_tier(jobs).items():
        seconds = sorted(s for j in group if (s := metrics.seconds_to_done(j)) is not None)
        if seconds:
            shares = [(i + 1) / len(seconds) for i in range(len(seconds))]
            cdf.step(seconds, shares, where="post", label=f"{tier.value} ({len(seconds)})")
    cdf.set_xscale("log")
    cdf.set_xlabel("seconds from submission to done (log)")
    cdf.set_ylabel("share of jobs")
    cdf.set_title("latency CDF per tier")
    cdf.grid(True, which="both", alpha=0.3)
    cdf.legend()

    def minutes(moment: datetime) -> float:
        return (moment - since).total_seconds() / 60

    alive = [(minutes(w.started), 1) for w in lives]
    alive += [(minutes(w.ended or until), -1) for w in lives]
    waiting = [(minutes(metrics.submitted_at(j)), 1) for j in jobs]
    waiting += [(minutes(j.timings.finished_at or until), -1) for j in jobs]
    xs, ys = _steps(waiting)
    timeline.step(
        xs, ys, where="post", label="jobs in the system", color="C1", alpha=0.6, linewidth=0.8
    )
    xs, ys = _steps(alive)
    timeline.step(xs, ys, where="post", label="workers alive", color="C0", linewidth=2.2)
    timeline.set_xlabel("minutes")
    timeline.set_title("workers alive vs jobs")
    timeline.grid(True, alpha=0.3)
    timeline.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_sweep(
    rows: Sequence[dict[str, Any]], *, name: str, target_p95_s: float, path: Path, title: str
) -> None:
    """One point per setting (``value``, ``p95_s``, ``cost_per_1000_photos_usd``; the
    recommended row has ``recommended: True``)."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    for row in rows:
        p95, cost = row["p95_s"], row["cost_per_1000_photos_usd"]
        if p95 is None or cost is None:
            continue
        marker = "*" if row.get("recommended") else "o"
        ax.scatter([p95], [cost], marker=marker, s=160 if marker == "*" else 40, color="C0")
        ax.annotate(
            f"{name}={row['value']}",
            (p95, cost),
            textcoords="offset points",
            xytext=(5, 5),
            fontsize=8,
        )
    ax.axvline(target_p95_s, color="C3", linestyle="--", label=f"target P95 {target_p95_s:g} s")
    ax.set_xlabel("P95 submitted → done (s)")
    ax.set_ylabel("cost per 1000 photos (USD)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
