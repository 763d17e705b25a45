"""``cutout backfill SRC DEST``: re-process a folder, a manifest or a gs:// prefix of
photos at ``batch`` priority, resumably (cutout/backfill/runner.py; a gs:// SRC goes by
reference, cutout/backfill/by_reference.py, and a gs:// DEST is written by the service);
``--shard i/n`` takes one shard of SRC (a Cloud Run job's task: infra/backfill.tf);
``--status`` and ``--cancel`` a batch.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import requests

from cutout import refs
from cutout.backfill import naming, report
from cutout.backfill.by_reference import ReferenceBackfill, Shard, list_objects
from cutout.backfill.journal import Journal
from cutout.backfill.progress import Progress
from cutout.backfill.runner import Backfill, Options
from cutout.backfill.sources import Listing, list_source
from cutout.cli.bench_ingest import free_port
from cutout.cli.client import Api, key_option, open_api
from cutout.errors import CutoutError, InvalidInput
from cutout.job import OutputFormat
from cutout.ports.objects import ObjectStore
from cutout.settings import Settings

EMBEDDED_START_S = 120.0


@click.command()
@click.argument("src", required=False)
@click.argument("dest", required=False)
@click.option("--effects", default="color", show_default=True, help="comma-separated")
@click.option("--params", help='JSON, e.g. {"blackwhite": {"grain": 0.2}}')
@click.option("--format", "fmt", type=click.Choice([f.value for f in OutputFormat]),
              default="png", show_default=True)  # fmt: skip
@click.option("--concurrency", type=click.IntRange(1, 64), default=8, show_default=True)
@click.option("--overwrite", is_flag=True, help="replace outputs that exist and differ")
@click.option("--retry-failed", is_flag=True, help="give failed items a new job")
@click.option("--follow-symlinks", is_flag=True, help="walk symlinks (loops are detected)")
@click.option("--batch-id", help="[default: derived from SRC and the options]")
@click.option("--shard", help="i/n: this task's shard of SRC [default: the Cloud Run task's]")
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
    try:
        listing, source = _listing(settings, src, dest, opts)
        options = _options(opts)
    except CutoutError as exc:
        raise click.ClickException(exc.message) from exc
    batch = opts["batch_id"] or naming.batch_id(source, options.identity())
    if opts["dry_run"]:
        sizes = sum(item.size for item in listing.items)
        click.echo(json.dumps({"batch": batch, "items": len(listing.items), "bytes": sizes,
                               "not_images": listing.not_images}))  # fmt: skip
        return
    with api_stack(settings, opts["api_url"]) as url:
        api = open_api(settings, url, opts["api_key"])
        _run(Run(api, settings, src, dest, batch, options, Shard.parse(opts["shard"])), listing)


def _listing(settings: Settings, src: str, dest: str, opts: dict[str, Any]) -> tuple[Listing, str]:
    """SRC's items in this shard, and SRC as the batch id names it."""
    shard = Shard.parse(opts["shard"])
    if refs.is_gs(src):
        listing, source = list_objects(object_store(settings), src), refs.check_prefix(src)
    elif refs.is_gs(dest):
        raise InvalidInput("a gs:// DEST is written by the service: give a gs:// SRC too")
    else:
        listing = list_source(src, follow_symlinks=opts["follow_symlinks"])
        source = str(Path(src).resolve())
    listing.items = [item for item in listing.items if shard.holds(item.rel)]
    return listing, source


def _options(opts: dict[str, Any]) -> Options:
    try:
        params = json.loads(opts["params"]) if opts["params"] else {}
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--params") from exc
    effects = tuple(e.strip() for e in opts["effects"].split(",") if e.strip())
    return Options(effects, params, OutputFormat(opts["fmt"]), opts["concurrency"],
                   opts["overwrite"], opts["retry_failed"])  # fmt: skip


@dataclass(frozen=True)
class Run:
    api: Api
    settings: Settings
    src: str
    dest: str
    batch: str
    options: Options
    shard: Shard

    @property
    def local_dest(self) -> Path:
        """Where the journal and report live: DEST, or for a gs:// DEST a local cache
        folder (the report is copied into DEST too)."""
        if refs.is_gs(self.dest):
            return self.settings.data_dir / "backfill" / self.batch
        return Path(self.dest)

    def runner(self, journal: Journal, progress: Progress) -> Backfill:
        if not refs.is_gs(self.src):
            return Backfill(self.api, self.local_dest, self.batch, self.options, journal, progress)
        dest_uri = refs.check_prefix(self.dest) if refs.is_gs(self.dest) else None
        return ReferenceBackfill(self.api, self.local_dest, self.batch, self.options, journal,
                                 progress, dest_uri=dest_uri)  # fmt: skip


def _run(run: Run, listing: Listing) -> None:
    suffix = run.shard.suffix
    journal = Journal(run.local_dest / naming.REPORT_DIR / f"{run.batch}{suffix}.jsonl")
    progress = Progress(len(listing.items))
    runner = run.runner(journal, progress)
    started = time.monotonic()
    click.echo(f"backfill {run.batch}{suffix}: {len(listing.items)} photos from {run.src} "
               f"into {run.dest}", err=True)  # fmt: skip
    interrupted = False
    try:
        runner.run(listing.items)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        journal.close()
        progress.close()
    seconds = time.monotonic() - started
    result = report.summary(run.batch, run.src, run.dest, listing, progress, seconds)
    written = report.write(run.local_dest, result, runner.failures, suffix=suffix)
    if refs.is_gs(run.dest):
        report.upload(object_store(run.settings), run.dest, written)
    click.echo(json.dumps(result))
    if interrupted:
        click.echo("interrupted: run the same command again to resume", err=True)
        raise SystemExit(130)
    if result["failed"]:
        click.echo(f"{result['failed']} failed: see {written[0]}", err=True)


def object_store(settings: Settings) -> ObjectStore:
    """The operator's view of gs:// objects, for listing and the report (the service
    reads and writes the photos as itself)."""
    from cutout.gcp.clients import EmulatorHosts, connect
    from cutout.gcp.objects import GcsObjectStore

    return GcsObjectStore(connect(settings.gcp_project, EmulatorHosts.from_env()).storage)


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
