"""Names, written once: the batch id, each item's idempotency key, each output's path.

Outputs keep the source's full name and add the effect and the format's extension
(``a/cat.jpg`` → ``a/cat.jpg.color.png``), so two sources never share an output: their
relative paths differ, and the suffix is a function of the effect alone.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

REPORT_DIR = ".cutout-backfill"
SUMMARY_FILE = "backfill-summary.json"
FAILURES_FILE = "backfill-failures.csv"


def batch_id(src: str, options: dict[str, Any]) -> str:
    """Stable across runs of one command: the source and every option that shapes the
    results (not the destination: a new DEST reuses the service's finished jobs)."""
    return "bf-" + _digest({"src": src, "options": options})[:20]


def idempotency_key(batch: str, rel: str, sha256: str, retry: int = 0) -> str:
    """One job per item: the batch, the item's relative path and its bytes. ``retry``
    counts ``--retry-failed`` reruns, each a new job for an item whose job failed."""
    return "bf:" + _digest({"batch": batch, "rel": rel, "sha256": sha256, "retry": retry})


def output_name(rel: str, effect: str, extension: str) -> str:
    return f"{rel}.{effect}.{extension}"


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()
