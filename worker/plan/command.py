"""``cutout plan``: simulate traffic against cutout's scaling and worker rules and print
the report's metrics (a table, then one JSON line); ``--sweep name=v1,v2`` compares
settings and recommends the cheapest whose P95 meets ``--target-p95-s``; ``--scenario
legacy`` puts the old design and cutout's side by side on the old service's traffic."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from cutout.backends import open_backends
from cutout.cli.report import parse_moment
from cutout.errors import CutoutError
from cutout.job import Priority, utcnow
from cutout.prices import prices_for
from cutout.report import read_window, table
from cutout.settings import Settings
from worker.plan.legacy import legacy_traffic, ours_fleet
from worker.plan.measure import measured_fleet
from worker.plan.records import T0, at
from worker.plan.runs import (
    DEFAULT_TARGET_P95_S,
    legacy,
    simulate,
    simulate_run,
    spread,
    sweep,
)
from worker.plan.sim import Fleet
from worker.plan.traffic import Arrival, Burst, Traffic, read_trace

_FLEET = (
    "idle_exit_s",
    "max_workers",
    "batch_size",
    "jobs_per_worker",
    "batch_wait_s",
    "start_window_s",
)


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(","))


def _traffic(
    rates: tuple[str, ...],
    hours: float,
    profile: str | None,
    bursts: tuple[str, ...],
    warm_share: float,
    warm_lead_s: float,
    trace: Path | None,
) -> Traffic | list[Arrival]:
    if trace is not None:
        return read_trace(trace)
    per_tier = {Priority(t): float(r) for t, r in (rate.split("=", 1) for rate in rates)}
    return Traffic(
        jobs_per_hour=per_tier or {Priority.STANDARD: 10.0},
        hours=hours,
        daily_profile=_floats(profile) if profile else None,
        bursts=tuple(Burst(*_floats(b.replace(":", ","))) for b in bursts),
        warm_share=warm_share,
        warm_lead_s=warm_lead_s,
    )


def _fleet(
    settings: Settings, measured: tuple[datetime, datetime] | None, given: dict[str, Any]
) -> Fleet:
    fleet = ours_fleet(
        idle_exit_s=settings.idle_exit_s,
        max_workers=settings.max_workers,
        batch_size=settings.batch_size,
        jobs_per_worker=settings.jobs_per_worker,
        batch_wait_s=settings.batch_wait_ms / 1000,
        start_window_s=settings.start_window_s,
        poll_s=settings.poll_s,
        guard_every=settings.batch_guard_every,
    )
    if measured is not None:
        records = read_window(open_backends(settings), *measured)
        fleet = measured_fleet(fleet, records.jobs, records.lives)
    startup = fleet.startup
    if given.get("launch_s"):
        startup = dataclasses.replace(startup, launch_s=_floats(given["launch_s"]))
    if given.get("ready_s"):
        startup = dataclasses.replace(startup, ready_s=_floats(given["ready_s"]))
    changes = {
        k: given[k]
        for k in ("service_base_s", "service_per_image_s", "prepare_s", "render_s", *_FLEET)
        if given.get(k) is not None
    }
    return dataclasses.replace(fleet, startup=startup, **changes)


def _sweep_table(result: dict[str, Any]) -> str:
    lines = [
        f"sweep {result['setting']} (mean over {result['seeds']} seeds; "
        f"target P95 {result['target_p95_s']:g} s)"
    ]
    for row in result["rows"]:
        mark = "  <- recommended" if row["recommended"] else ""
        lines.append(
            f"  {result['setting']}={row['value']:>8}  P95 {row['p95_s'] or 0:7.2f} s  "
            f"cold {100 * (row['cold_start_share'] or 0):5.1f}%  busy "
            f"{100 * (row['busy_share'] or 0):5.1f}%  "
            f"{row['cost_per_1000_photos_usd'] or 0:8.2f} USD/1000 photos{mark}"
        )
    lines.append(f"recommended: {result['recommended'] or 'none meets the target'}")
    return "\n".join(lines)


def _legacy_table(result: dict[str, Any]) -> str:
    lines = [
        f"legacy traffic, mean ± sd over {result['seeds']} seeds",
        f"  {'figure':<26}{'old design':>22}{'cutout defaults':>22}{'old, measured':>15}",
    ]
    measured = result["measured_old"]
    for name in result["old"]:
        cells = []
        for side in ("old", "ours"):
            f = result[side][name]
            cells.append("-" if f["mean"] is None else f"{f['mean']:.3g} ± {f['sd']:.2g}")
        known = measured.get(name)
        lines.append(
            f"  {name:<26}{cells[0]:>22}{cells[1]:>22}"
            f"{'' if known is None else format(known, '.3g'):>15}"
        )
    lines.append(f"old design's P95 vs measured: {100 * result['old_p95_vs_measured']:+.1f}%")
    return "\n".join(lines)


#: Every duration option: a negative one would run the simulation backwards (simpy refuses
#: a negative delay, and a negative service time would silently shorten the others).
SECONDS = click.FloatRange(min=0)


@click.command()
@click.option("--scenario", type=click.Choice(["legacy"]), help="a built-in scenario")
@click.option("--rate", "rates", multiple=True, help="TIER=JOBS_PER_HOUR (repeat)")
@click.option("--hours", type=float, default=8.0, show_default=True)
@click.option("--profile", help="24 comma-separated hourly multipliers, hour 0 first")
@click.option("--burst", "bursts", multiple=True, help="START_H:MINUTES:FACTOR (repeat)")
@click.option("--warm-share", type=float, default=0.0, help="share of jobs warmed ahead")
@click.option("--warm-lead-s", type=SECONDS, default=20.0, show_default=True)
@click.option("--trace", type=click.Path(exists=True, path_type=Path), help="CSV to replay")
@click.option("--launch-s", help="start request → process, seconds (comma: samples)")
@click.option("--ready-s", help="process → model ready, seconds (comma: samples)")
@click.option("--service-base-s", type=SECONDS, help="device seconds per batch")
@click.option("--service-per-image-s", type=SECONDS, help="device seconds per photo in it")
@click.option("--prepare-s", type=SECONDS, help="seconds to fetch and decode a batch's photos")
@click.option("--render-s", type=SECONDS, help="seconds to render one job after the device")
@click.option("--idle-exit-s", type=SECONDS)
@click.option("--max-workers", type=int)
@click.option("--batch-size", type=int)
@click.option("--jobs-per-worker", type=int)
@click.option("--batch-wait-s", type=SECONDS)
@click.option("--start-window-s", type=SECONDS, help="how long a start counts as on its way")
@click.option("--measured-since", help="learn start-up and service times from the records")
@click.option("--measured-until", help="end of that window [default: now]")
@click.option("--seeds", type=click.IntRange(min=1), help="[100 for legacy, else 20]")
@click.option("--sweep", "sweep_spec", help="NAME=V1,V2,... over one setting")
@click.option("--target-p95-s", type=float, default=DEFAULT_TARGET_P95_S, show_default=True)
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), help="write a PNG")
@click.pass_obj
def command(settings: Settings, **options: Any) -> None:
    """Predict latency, cold starts and cost of a traffic for cutout's settings."""
    try:
        _run(settings, options, prices_for(settings))
    except (CutoutError, ValueError) as exc:
        message = exc.message if isinstance(exc, CutoutError) else str(exc)
        raise click.ClickException(message) from exc


def _run(settings: Settings, o: dict[str, Any], prices: Any) -> None:
    legacy_run = o["scenario"] == "legacy"
    seeds = o["seeds"] or (100 if legacy_run else 20)
    measured = None
    if o["measured_since"]:
        now = utcnow()
        until = parse_moment(o["measured_until"], before=now) if o["measured_until"] else now
        measured = (parse_moment(o["measured_since"], before=until), until)
    fleet = _fleet(settings if not legacy_run else Settings(), measured, o)
    traffic = (
        legacy_traffic()
        if legacy_run
        else _traffic(
            o["rates"],
            o["hours"],
            o["profile"],
            o["bursts"],
            o["warm_share"],
            o["warm_lead_s"],
            o["trace"],
        )
    )
    if o["sweep_spec"]:
        result = _swept(fleet, traffic, o, seeds, prices)
    elif legacy_run:
        result = legacy(seeds, prices)
        click.echo(_legacy_table(result))
    else:
        result = _simulated(fleet, traffic, o, seeds, prices)
    result["fleet"] = dataclasses.asdict(fleet)
    click.echo(json.dumps(result, sort_keys=True, default=str))


def _swept(
    fleet: Fleet, traffic: Traffic | list[Arrival], o: dict[str, Any], seeds: int, prices: Any
) -> dict[str, Any]:
    name, _, values = o["sweep_spec"].partition("=")
    target = o["target_p95_s"]
    result = sweep(
        fleet, traffic, name, values.split(","), seeds=seeds, prices=prices, target_p95_s=target
    )
    click.echo(_sweep_table(result))
    if o["plot"]:
        from cutout.plots import plot_sweep

        title = f"cutout plan: {name} sweep ({seeds} seeds)"
        plot_sweep(result["rows"], name=name, target_p95_s=target, path=o["plot"], title=title)
    return result


def _simulated(
    fleet: Fleet, traffic: Traffic | list[Arrival], o: dict[str, Any], seeds: int, prices: Any
) -> dict[str, Any]:
    first = simulate_run(fleet, traffic, 0)
    runs = [first.summary(prices)]
    runs += [simulate(fleet, traffic, seed, prices) for seed in range(1, seeds)]
    click.echo(table(runs[0]))
    if o["plot"]:
        from cutout.plots import plot_records

        jobs, lives = first.records
        title = "cutout plan: one simulated run (seed 0)"
        until = at(first.end_s) or T0
        plot_records(jobs, lives, since=T0, until=until, path=o["plot"], title=title)
    return {"seeds": seeds, "first_seed": runs[0], "spread": spread(runs)}
