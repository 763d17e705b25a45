"""``cutout report``: latency, cold starts, worker efficiency, cost and errors over a time
window, from the status store and the workers' life records (local, or ``--backend gcp``):
a table, then one JSON line (the :func:`cutout.summary.summarize` dict), and with
``--plot FILE.png`` the latency CDF per tier and the workers-vs-jobs timeline."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from cutout.backends import open_backends
from cutout.errors import CutoutError
from cutout.job import Priority, utcnow
from cutout.prices import prices_for
from cutout.report import read_window, table
from cutout.settings import Settings
from cutout.summary import summarize

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_moment(text: str, *, before: datetime) -> datetime:
    """An ISO 8601 instant (UTC if it names no zone), or a duration (``90s``, ``30m``,
    ``8h``, ``2d``) meaning that long before ``before``."""
    if match := _DURATION.fullmatch(text.strip()):
        return before - timedelta(seconds=float(match[1]) * _UNIT_S[match[2]])
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(f"{text!r} is neither an ISO time nor a duration like 8h") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@click.command()
@click.option("--since", default="24h", show_default=True, help="ISO time, or a duration back")
@click.option("--until", "until_text", default=None, help="ISO time [default: now]")
@click.option("--tier", type=click.Choice([p.value for p in Priority]), help="one tier only")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), help="write a PNG")
@click.option("--backend", type=click.Choice(["local", "gcp"]), help="[env CUTOUT_BACKEND]")
@click.pass_obj
def report(
    settings: Settings,
    since: str,
    until_text: str | None,
    tier: str | None,
    plot: Path | None,
    backend: str | None,
) -> None:
    """Summarise the jobs submitted and the workers started in a window."""
    until = parse_moment(until_text, before=utcnow()) if until_text else utcnow()
    start = parse_moment(since, before=until)
    if start >= until:
        raise click.BadParameter(f"--since {start.isoformat()} is not before --until")
    try:
        settings = settings.with_overrides(backend=backend)
        records = read_window(
            open_backends(settings), start, until, tier=Priority(tier) if tier else None
        )
        summary = summarize(
            records.jobs, records.lives, until=min(until, utcnow()), prices=prices_for(settings)
        )
    except CutoutError as exc:
        raise click.ClickException(exc.message) from exc
    summary["window"] = {"since": start.isoformat(), "until": until.isoformat(), "tier": tier}
    click.echo(table(summary))
    click.echo(json.dumps(summary, sort_keys=True))
    if plot is not None:
        from cutout.plots import plot_records  # matplotlib only when a plot is asked for

        plot_records(
            records.jobs,
            records.lives,
            since=start,
            until=until,
            path=plot,
            title=f"cutout report {start:%Y-%m-%d %H:%M} → {until:%H:%M} UTC",
        )
        click.echo(f"plot written to {plot}", err=True)
