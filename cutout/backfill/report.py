"""The end of a run, in DEST: a failure report (CSV: path, code, message) and the summary
(one JSON object, also printed as the run's last line). The summary's counts add up:
``items == done + cached + failed + pending``."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from cutout.backfill import naming
from cutout.backfill.progress import KINDS, Progress
from cutout.backfill.sources import Listing


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


def write(dest: Path, result: dict[str, Any], failures: dict[str, tuple[str, str]]) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    with (dest / naming.FAILURES_FILE).open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "code", "message"])
        for rel in sorted(failures):
            writer.writerow([rel, *failures[rel]])
    (dest / naming.SUMMARY_FILE).write_text(json.dumps(result, indent=2) + "\n")
