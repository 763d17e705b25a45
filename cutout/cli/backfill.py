"""``cutout backfill SRC DEST``: re-process a folder or manifest of photos at ``batch``
priority, resumably (cutout/backfill/runner.py); ``--status`` and ``--cancel`` a batch.

Without ``--api``, the local stack at CUTOUT_PUBLIC_URL is used; if none answers there,
an embedded ``cutout up`` is started on a free port for the run and stopped after.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import requests

from cutout.backfill import naming, report
from cutout.backfill.journal import Journal
from cutout.backfill.progress import Progress
from cutout.backfill.runner import Backfill, Options
from cutout.backfill.sources import list_source
from cutout.cli.bench_ingest import free_port
from cutout.cli.client import Api, key_option, open_api
from cutout.errors import CutoutError
from cutout.job import OutputFormat
from cutout.settings import Settings

EMBEDDED_START_S = 120.0


@click.command()
@click.argument("src", required=False)
@click.argument("dest", required=False, type=click.Path(file_okay=False))
@click.option("--effects", default="color", show_default=True, help="comma-separated")
@click.option("--params", help='JSON, e.g. {"blackwhite": {"grain": 0.2}}')
@click.option("--format", "fmt", type=click.Choice([f.value for f in OutputFormat]),
              default="png", show_default=True)  # fmt: skip
@click.option("--concurrency", type=click.IntRange(1, 64), default=8, show_default=True)
@click.option("--overwrite", is_flag=True, help="replace outputs that exist and differ")
@click.option("--retry-failed", is_flag=True, help="give failed items a new job")
@click.option("--follow-symlinks", is_flag=True, help="walk symlinks (loops are detected)")
@click.option("--batch-id", help="[default: derived from SRC and the options]")
@click.option("--dry-run", is_flag=True, help="count the items and their sizes only")
@click.option("--status", "status_of", metavar="BATCH", help="print a batch's counts")
@click.option("--cancel", "cancel", metavar="BATCH", help="end a batch's queued jobs")
@click.option("--api", "api_url", help="ingest URL [default: the local stack, else embedded]")
@key_option
@click.pass_obj
def backfill(settings: Settings, src: str | None, dest: str | None, **opts: Any) -> None:
    """Process every photo under SRC into DEST (outputs: SRC's paths + .EFFECT.EXT)."""
    for flag in ("status_of", "cancel"):
        if opts[flag]:
            api = open_api(settings, opts["api_url"], opts["api_key"])
            _batch_call(api, opts[flag], cancel=flag == "cancel")
            return
    if src is None or dest is None:
        raise click.UsageError("give SRC and DEST (or --status BATCH / --cancel BATCH)")
    if dest.startswith("gs://"):
        raise click.ClickException("gs:// destinations (by reference) are not supported yet")
    try:
        listing = list_source(src, follow_symlinks=opts["follow_symlinks"])
        options = _options(opts)
    except CutoutError as exc:
        raise click.ClickException(exc.message) from exc
    batch = opts["batch_id"] or naming.batch_id(str(Path(src).resolve()), options.identity())
    if opts["dry_run"]:
        sizes = sum(item.size for item in listing.items)
        click.echo(json.dumps({"batch": batch, "items": len(listing.items), "bytes": sizes,
                               "not_images": listing.not_images}))  # fmt: skip
        return
    with api_stack(settings, opts["api_url"]) as url:
        api = open_api(settings, url, opts["api_key"])
        _run(api, src, Path(dest), batch, options, listing)


def _options(opts: dict[str, Any]) -> Options:
    try:
        params = json.loads(opts["params"]) if opts["params"] else {}
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--params") from exc
    effects = tuple(e.strip() for e in opts["effects"].split(",") if e.strip())
    return Options(effects, params, OutputFormat(opts["fmt"]), opts["concurrency"],
                   opts["overwrite"], opts["retry_failed"])  # fmt: skip


def _run(api: Api, src: str, dest: Path, batch: str, options: Options, listing: Any) -> None:
    journal = Journal(dest / naming.REPORT_DIR / f"{batch}.jsonl")
    progress = Progress(len(listing.items))
    runner = Backfill(api, dest, batch, options, journal, progress)
    started = time.monotonic()
    click.echo(f"backfill {batch}: {len(listing.items)} photos from {src} into {dest}", err=True)
    interrupted = False
    try:
        runner.run(listing.items)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        journal.close()
        progress.close()
    result = report.summary(batch, src, str(dest), listing, progress, time.monotonic() - started)
    report.write(dest, result, runner.failures)
    click.echo(json.dumps(result))
    if interrupted:
        click.echo("interrupted: run the same command again to resume", err=True)
        raise SystemExit(130)
    if result["failed"]:
        click.echo(f"{result['failed']} failed: see {dest / naming.FAILURES_FILE}", err=True)


def _batch_call(api: Api, batch: str, *, cancel: bool) -> None:
    path = f"/v1/batches/{batch}" + ("/cancel" if cancel else "")
    click.echo(json.dumps(api.body(api.call("POST" if cancel else "GET", path))))


@contextlib.contextmanager
def api_stack(settings: Settings, api_url: str | None) -> Iterator[str]:
    """The API to use: ``api_url``, the running local stack, or an embedded one."""
    url = api_url or settings.public_url
    if api_url is not None or _answers(url):
        yield url
        return
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    click.echo(f"no stack answers at {settings.public_url}; starting one at {url}", err=True)
    command = [sys.executable, "-m", "cutout", "--data-dir", str(settings.data_dir), "up",
               "--port", str(port)]  # fmt: skip
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + EMBEDDED_START_S
        while not _answers(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise click.ClickException("the embedded stack did not start")
            time.sleep(0.3)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False
