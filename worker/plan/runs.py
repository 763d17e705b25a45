"""Running the simulation over many seeds: the headline figures of each run, their mean
and spread, the ``legacy`` side-by-side, and sweeps over one setting with the recommended
value (the cheapest whose mean P95 meets the target)."""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from cutout.prices import PriceTable
from worker.plan.legacy import MEASURED, OldDesign, legacy_traffic, old_summary, ours_fleet
from worker.plan.records import SimRun
from worker.plan.sim import Fleet, Simulation
from worker.plan.traffic import Arrival, Traffic

#: The figures the README and the sweep table show: name → a summary's value.
FIGURES: dict[str, Callable[[dict[str, Any]], float | None]] = {
    "p50_s": lambda s: s["to_done_s"]["p50"],
    "p95_s": lambda s: s["to_done_s"]["p95"],
    "p99_s": lambda s: s["to_done_s"]["p99"],
    "cold_starts": lambda s: s["cold_starts"],
    "cold_start_share": lambda s: s["cold_start_share"],
    "busy_share": lambda s: s["busy_share"],
    "workers_started": lambda s: s["workers_started"],
    "cost_per_1000_photos_usd": lambda s: s["cost_per_1000_photos_usd"],
}
DEFAULT_TARGET_P95_S = 10.0


def figures(summary: dict[str, Any]) -> dict[str, float | None]:
    return {name: pick(summary) for name, pick in FIGURES.items()}


def spread(summaries: Sequence[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Per figure over the runs that have it: mean, standard deviation, min and max."""
    out: dict[str, dict[str, float | None]] = {}
    for name, pick in FIGURES.items():
        values = [v for s in summaries if (v := pick(s)) is not None]
        out[name] = {
            "mean": statistics.fmean(values) if values else None,
            "sd": statistics.pstdev(values) if values else None,
            "min": min(values, default=None),
            "max": max(values, default=None),
        }
    return out


def simulate_run(fleet: Fleet, traffic: Traffic | Sequence[Arrival], seed: int) -> SimRun:
    """One seeded run of cutout's design: a fresh draw of ``traffic`` (or the trace as it
    is) and of the start-up times."""
    if isinstance(traffic, Traffic):
        arrivals = traffic.arrivals(np.random.default_rng([seed, 1]))
    else:
        arrivals = list(traffic)
    return Simulation(fleet, arrivals, seed).run()


def simulate(
    fleet: Fleet, traffic: Traffic | Sequence[Arrival], seed: int, prices: PriceTable
) -> dict[str, Any]:
    """The summary of :func:`simulate_run`."""
    return simulate_run(fleet, traffic, seed).summary(prices)


def legacy(seeds: int, prices: PriceTable, **settings: Any) -> dict[str, Any]:
    """The old design and cutout's (its defaults, or ``settings``) over ``seeds`` draws of
    the old traffic, with the measured figures and how near the old design's mean P95
    lands to the measured one."""
    old = [old_summary(OldDesign(seed).run(), prices) for seed in range(seeds)]
    fleet, traffic = ours_fleet(**settings), legacy_traffic()
    ours = [simulate(fleet, traffic, seed, prices) for seed in range(seeds)]
    old_spread = spread(old)
    p95 = old_spread["p95_s"]["mean"]
    assert p95 is not None
    return {
        "scenario": "legacy",
        "seeds": seeds,
        "measured_old": MEASURED,
        "old": old_spread,
        "ours": spread(ours),
        "old_p95_vs_measured": p95 / MEASURED["p95_s"] - 1,
    }


def with_setting(fleet: Fleet, name: str, value: str) -> Fleet:
    """The fleet with one setting changed, ``value`` read as that setting's type."""
    kinds = {f.name: f.type for f in dataclasses.fields(Fleet) if f.name != "startup"}
    if name not in kinds:
        raise ValueError(f"unknown setting {name!r}; one of: {', '.join(sorted(kinds))}")
    convert = int if kinds[name] in (int, "int") else float
    changed: dict[str, Any] = {name: convert(value)}
    return dataclasses.replace(fleet, **changed)


def sweep(
    fleet: Fleet,
    traffic: Traffic | Sequence[Arrival],
    name: str,
    values: Sequence[str],
    *,
    seeds: int,
    prices: PriceTable,
    target_p95_s: float = DEFAULT_TARGET_P95_S,
) -> dict[str, Any]:
    """Mean figures per value of setting ``name``; ``recommended`` is the cheapest value
    (cost per 1000 photos) whose mean P95 meets ``target_p95_s``, or ``None``."""
    rows: list[dict[str, Any]] = []
    for value in values:
        varied = with_setting(fleet, name, value)
        runs = spread([simulate(varied, traffic, seed, prices) for seed in range(seeds)])
        rows.append({"value": value, **{k: v["mean"] for k, v in runs.items()}})
    meeting = [
        r
        for r in rows
        if r["p95_s"] is not None
        and r["p95_s"] <= target_p95_s
        and r["cost_per_1000_photos_usd"] is not None
    ]
    best = min(meeting, key=lambda r: r["cost_per_1000_photos_usd"], default=None)
    for row in rows:
        row["recommended"] = row is best
    return {
        "setting": name,
        "target_p95_s": target_p95_s,
        "seeds": seeds,
        "rows": rows,
        "recommended": best["value"] if best else None,
    }
