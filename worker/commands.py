"""``cutout worker``: run one worker process until it is idle or told to stop."""

from __future__ import annotations

import signal

import click

from cutout.backends import open_backends
from cutout.errors import ConfigurationError
from cutout.logs import configure_logging
from cutout.settings import Settings
from worker.loop import Worker


def run_worker(settings: Settings) -> int:
    """Build the adapters, install SIGTERM/SIGINT handlers that stop pulling, and work."""
    configure_logging(settings.log_level)
    worker = Worker(settings=settings, backends=open_backends(settings))

    def stop(signum: int, frame: object) -> None:
        worker.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return worker.work()


@click.command()
@click.option("--batch-size", type=int, help="messages per batch [env CUTOUT_BATCH_SIZE]")
@click.option("--idle-exit", type=float, help="exit after this many idle seconds; 0 never")
@click.pass_obj
def command(settings: Settings, batch_size: int | None, idle_exit: float | None) -> None:
    """Pull jobs and process them until idle (or SIGTERM)."""
    try:
        run_worker(settings.with_overrides(batch_size=batch_size, idle_exit_s=idle_exit))
    except ConfigurationError as exc:
        raise click.ClickException(exc.message) from exc
