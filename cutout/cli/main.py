"""Entry point of the ``cutout`` command.

Commands that need the worker (``worker``, ``bench model`` …) live in that package and
are found through the ``cutout.commands`` and ``cutout.bench`` entry-point groups, so the
core never imports ingest or worker. Settings precedence: flag > CUTOUT_* variable >
default (see cutout/settings.py).
"""

from __future__ import annotations

from importlib.metadata import entry_points

import click

from cutout.cli.backfill import backfill
from cutout.cli.bench_backfill import bench_backfill
from cutout.cli.bench_burst import bench_burst
from cutout.cli.bench_ingest import bench_ingest
from cutout.cli.bench_removebg import bench_removebg
from cutout.cli.client import status, submit
from cutout.cli.keys import keys
from cutout.cli.report import report
from cutout.cli.serve import ingest, up
from cutout.errors import ConfigurationError
from cutout.settings import Settings


@click.group()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    help="where local state lives [env CUTOUT_DATA_DIR; default ./.cutout]",
)
@click.pass_context
def cli(ctx: click.Context, data_dir: str | None) -> None:
    """cutout: background removal for photos, with artistic effects."""
    try:
        ctx.obj = Settings.from_env().with_overrides(data_dir=data_dir)
    except ConfigurationError as exc:
        raise click.ClickException(exc.message) from exc


@cli.group()
def bench() -> None:
    """Benchmarks that print numbers and end with one JSON line."""


for command in (up, ingest, submit, status, keys, backfill, report):
    cli.add_command(command)
bench.add_command(bench_ingest, "ingest")
bench.add_command(bench_backfill, "backfill")
bench.add_command(bench_burst, "burst")
bench.add_command(bench_removebg, "removebg")


def _load_plugins() -> None:
    for group, parent in (("cutout.commands", cli), ("cutout.bench", bench)):
        for ep in entry_points(group=group):
            parent.add_command(ep.load(), ep.name)


def main() -> None:
    _load_plugins()
    cli(prog_name="cutout")
