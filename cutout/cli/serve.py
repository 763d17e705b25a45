"""``cutout up`` and ``cutout ingest``: run the pipeline's processes on this machine.

Ingest runs exactly as in production, under functions-framework; workers run as
``python -m worker``. With the local backend, ``cutout up`` itself sweeps what has
outlived its retention (:mod:`cutout.local.retention`), as GCP's TTL and lifecycle
rules would. Both are child processes in one process group of their own, so a
clean Ctrl-C (or SIGTERM) of ``cutout up`` stops every process it started, including
workers that ingest itself launched.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import click

from cutout.backends import open_backends
from cutout.cli.local_key import LOCAL_KEY_FILE, LOCAL_KEY_QUOTAS, ensure_local_key
from cutout.errors import ConfigurationError
from cutout.local.retention import local_sweeper
from cutout.settings import Backend, Settings
from cutout.weights import download_reachable, local_weights, weight_sources
from cutout.worker_processes import WorkerProcesses

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 60.0
STOP_GRACE_S = 15.0


def ingest_command(settings: Settings, host: str, port: int) -> list[str]:
    spec = importlib.util.find_spec("ingest")
    if spec is None or not spec.submodule_search_locations:
        raise click.ClickException("the ingest package is not installed")
    source = Path(next(iter(spec.submodule_search_locations))) / "main.py"
    framework = Path(sys.executable).with_name("functions-framework")
    return [
        str(framework),
        "--target",
        "handle",
        "--source",
        str(source),
        "--host",
        host,
        "--port",
        str(port),
    ]


def child_env(settings: Settings) -> dict[str, str]:
    return {**os.environ, **settings.to_env(), "PYTHONUNBUFFERED": "1"}


def resolve_segmenter(settings: Settings) -> Settings:
    """Keep InSPyReNet if its weights are reachable; otherwise fall back to the
    weights-free segmenter and say so loudly (every job records it too)."""
    if settings.segmenter != "inspyrenet":
        return settings
    if local_weights(settings) is not None:
        return settings
    sources = weight_sources(settings)
    remote = [s.location for s in sources if "://" in s.location]
    if any(download_reachable(url) for url in remote):
        return settings
    tried = "\n    ".join(s.location for s in sources)
    click.secho(
        "\n" + "!" * 78 + "\n"
        "  NO MODEL WEIGHTS FOUND: running the weights-free FALLBACK segmenter (grabcut).\n"
        "  Results are a rough demo, not InSPyReNet. Every job records model 'grabcut'.\n"
        f"  Tried:\n    {tried}\n"
        "  Set CUTOUT_WEIGHTS to a checkpoint (.pth or .safetensors) to use the real model.\n"
        + "!" * 78
        + "\n",
        fg="yellow",
        err=True,
    )
    return settings.with_overrides(segmenter="grabcut")


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise click.ClickException(f"ingest exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise click.ClickException(f"ingest did not answer on {url} within {READY_TIMEOUT_S:.0f} s")


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group (ingest and every worker in it), then SIGKILL stragglers."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_GRACE_S)
    deadline = time.monotonic() + STOP_GRACE_S
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


@click.command()
@click.option("--port", type=int, default=8080, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--workers",
    type=int,
    default=0,
    show_default=True,
    help="resident workers; with 0, ingest starts workers for the backlog (or a warm call) "
    "and they exit after CUTOUT_IDLE_EXIT_S idle",
)
@click.option("--segmenter", help="segmenter name [env CUTOUT_SEGMENTER]")
@click.option(
    "--backend",
    type=click.Choice(["local", "gcp"]),
    help="[env CUTOUT_BACKEND]; gcp runs on Google's emulators, started here unless "
    "*_EMULATOR_HOST variables name running ones",
)
@click.pass_obj
def up(
    settings: Settings,
    port: int,
    host: str,
    workers: int,
    segmenter: str | None,
    backend: str | None,
) -> None:
    """Run ingest (web page + API) and workers until Ctrl-C."""
    url = f"http://{host}:{port}"
    settings = settings.with_overrides(public_url=url, segmenter=segmenter, backend=backend)
    settings = resolve_segmenter(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.backend is not Backend.GCP:
        _serve(settings, host, port, workers)
        return
    from cutout.gcp.local_stack import local_stack

    try:
        with local_stack(settings, settings.data_dir / "emulators") as (gcp, variables):
            for name, value in variables.items():
                click.secho(f"emulator: {name}={value}", err=True)
            _serve(gcp, host, port, workers)
    except ConfigurationError as exc:
        raise click.ClickException(exc.message) from exc


def _serve(settings: Settings, host: str, port: int, workers: int) -> None:
    url = settings.public_url
    key_id = ensure_local_key(settings, open_backends(settings).keys)
    click.secho(
        f"CLI key {key_id} in {settings.data_dir / LOCAL_KEY_FILE}: secret, tier high, "
        f"{LOCAL_KEY_QUOTAS.requests_per_minute} requests/min, "
        f"{LOCAL_KEY_QUOTAS.images_per_day} images/day",
        err=True,
    )
    env = child_env(settings)
    # its own process group (in our session, so that workers can join it): Ctrl-C reaches
    # only us, and stop_group ends ingest and every worker together
    ingest = subprocess.Popen(ingest_command(settings, host, port), env=env, process_group=0)
    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        wait_ready(url, ingest)
        sweeper = local_sweeper(settings) if settings.backend is Backend.LOCAL else None
        resident = WorkerProcesses(
            settings.with_overrides(idle_exit_s=0.0), process_group=ingest.pid
        )
        resident.start(workers)
        click.secho(
            f"cutout is up: {url}  (data in {settings.data_dir.resolve()}; Ctrl-C stops)",
            fg="green",
            err=True,
        )
        while not stopping:
            if ingest.poll() is not None:
                raise click.ClickException(f"ingest exited with status {ingest.returncode}")
            missing = workers - len(resident.running())
            if missing > 0:
                click.secho(f"{missing} resident worker(s) exited; restarting", fg="yellow",
                            err=True)  # fmt: skip
                resident.start(missing)
            if sweeper is not None:
                sweeper.tick()
            time.sleep(0.5)
    finally:
        stop_group(ingest)
        click.echo("cutout stopped", err=True)


@click.command()
@click.option("--port", type=int, default=8080, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.pass_obj
def ingest(settings: Settings, port: int, host: str) -> None:
    """Run only ingest, under functions-framework as in production."""
    command = ingest_command(settings, host, port)
    os.execve(command[0], command, child_env(settings))
