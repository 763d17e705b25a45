"""``cutout bench backfill``: how fast a backfill submits and how fast the stack drains
it, on the local stack (the running one, else an embedded ``cutout up``), with the
segmenter that stack runs (CUTOUT_SEGMENTER; without weights, the labelled fallback).

The photos are small distinct PNGs written to a temporary folder, fewer than the batch
tier's backlog bound by default, so no 503 paces the submissions: the submission rate
is the tool's own (target: at least 100 items/s, so it is never the bottleneck). Ends
with one JSON line.
"""

from __future__ import annotations

import io
import json
import tempfile
import time
from pathlib import Path

import click
import numpy as np
from PIL import Image

from cutout.backfill import naming
from cutout.backfill.journal import Journal
from cutout.backfill.progress import Progress
from cutout.backfill.runner import Backfill, Options
from cutout.backfill.sources import list_source
from cutout.cli.backfill import api_stack
from cutout.cli.client import key_option, open_api
from cutout.job import OutputFormat
from cutout.settings import Settings


def write_photos(folder: Path, count: int) -> None:
    rng = np.random.default_rng(0)
    for n in range(count):
        pixels = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        (folder / f"d{n % 10}").mkdir(exist_ok=True)
        (folder / f"d{n % 10}" / f"p{n:05d}.png").write_bytes(buffer.getvalue())


@click.command()
@click.option("--photos", type=click.IntRange(1), default=500, show_default=True)
@click.option("--concurrency", type=click.IntRange(1, 64), default=8, show_default=True)
@click.option("--api", "api_url", help="ingest URL [default: the local stack, else embedded]")
@key_option
@click.pass_obj
def bench_backfill(
    settings: Settings, photos: int, concurrency: int, api_url: str | None, api_key: str | None
) -> None:
    """Submission and drain rate of a backfill of small photos."""
    with tempfile.TemporaryDirectory(prefix="cutout-bench-backfill-") as tmp:
        src, dest = Path(tmp, "src"), Path(tmp, "dest")
        src.mkdir()
        write_photos(src, photos)
        listing = list_source(str(src))
        options = Options(("color",), {}, OutputFormat.PNG, concurrency)
        batch = naming.batch_id(f"bench-{time.time_ns()}", options.identity())
        with api_stack(settings, api_url) as url:
            journal = Journal(dest / naming.REPORT_DIR / f"{batch}.jsonl")
            progress = Progress(photos, interactive=False)
            runner = Backfill(open_api(settings, url, api_key), dest, batch, options,
                              journal, progress)  # fmt: skip
            started = time.monotonic()
            runner.run(listing.items)
            seconds = time.monotonic() - started
            journal.close()
    submitted_s = runner.submitted_s or seconds
    result = {
        "photos": photos,
        "concurrency": concurrency,
        "submitted_s": round(submitted_s, 2),
        "submission_per_s": round(photos / submitted_s, 1),
        "drained_s": round(seconds, 2),
        "drain_per_s": round(photos / seconds, 1),
        "failed": progress.counts["failed"],
    }
    click.echo(f"submitted {photos} in {submitted_s:.1f} s; drained in {seconds:.1f} s", err=True)
    click.echo(json.dumps(result))
