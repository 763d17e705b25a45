"""Entry point of the ``cutout`` command.

Commands that need the worker or ingest (``worker``, ``bench model`` …) live in those
packages and are found through the ``cutout.commands`` and ``cutout.bench`` entry-point
groups, so the core never imports ingest or worker.
"""

from __future__ import annotations

from importlib.metadata import entry_points

import click

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
    ctx.obj = Settings.from_env().with_overrides(data_dir=data_dir)


@cli.group()
def bench() -> None:
    """Benchmarks that print numbers and end with one JSON line."""


def _load_plugins() -> None:
    for group, parent in (("cutout.commands", cli), ("cutout.bench", bench)):
        for ep in entry_points(group=group):
            parent.add_command(ep.load(), ep.name)


def main() -> None:
    _load_plugins()
    cli(prog_name="cutout")
