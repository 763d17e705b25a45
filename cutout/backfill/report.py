"""The end of a run, in DEST: a failure report (CSV: path, code, message) and the summary
(one JSON object, also printed as the run's last line). The summary's counts add up:
``items == done + cached + failed + pending``."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from cutout import refs
from cutout.backfill import naming
from cutout.backfill.progress import KINDS, Progress
from cutout.backfill.sources import Listing
from cutout.ports.objects import ObjectStore


def summary(
    batch: str, src: str, dest: str, listing: Listing, progress: Progress, seconds: float
) -> dict[str, Any]:
    counts = {kind: progress.counts[kind] for kind in KINDS}
    return {
        "batch": batch,
        "src": src,
        "dest": dest,
        "items": len(listing.items),
        **counts,
        "not_images": listing.not_images,
        "symlinks_skipped": listing.links_skipped,
        "loops": listing.loops,
        "seconds": round(seconds, 2),
        "images_per_s": round(progress.rate(), 2),
    }


def write(
    dest: Path, result: dict[str, Any], failures: dict[str, tuple[str, str]], *, suffix: str = ""
) -> list[Path]:
    """The failure report and the summary in ``dest`` (a shard's names carry its
    ``suffix``); returns their paths, the failure report first."""
    dest.mkdir(parents=True, exist_ok=True)
    failures_path = dest / f"{naming.FAILURES_STEM}{suffix}.csv"
    summary_path = dest / f"{naming.SUMMARY_STEM}{suffix}.json"
    with failures_path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "code", "message"])
        for rel in sorted(failures):
            writer.writerow([rel, *failures[rel]])
    summary_path.write_text(json.dumps(result, indent=2) + "\n")
    return [failures_path, summary_path]


def upload(store: ObjectStore, dest: str, paths: list[Path]) -> None:
    """Copy the report into a gs:// DEST, next to the outputs the service wrote."""
    for path in paths:
        kind = "text/csv" if path.suffix == ".csv" else "application/json"
        store.write(refs.join(dest, path.name), path.read_bytes(), content_type=kind)
