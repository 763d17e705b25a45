"""Names, written once: the batch id, each item's idempotency key, each output's path.

Outputs keep the source's full name and add the effect and the format's extension
(``a/cat.jpg`` → ``a/cat.jpg.color.png``), so two sources never share an output: their
relative paths differ, and the suffix is a function of the effect alone.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from cutout import refs
from cutout.refs import Delivery

REPORT_DIR = ".cutout-backfill"
SUMMARY_STEM = "backfill-summary"
FAILURES_STEM = "backfill-failures"
SUMMARY_FILE = f"{SUMMARY_STEM}.json"
FAILURES_FILE = f"{FAILURES_STEM}.csv"


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


def delivered_uri(delivery: Delivery, effect: str, extension: str) -> str:
    """Where the service writes a by-reference job's result (a gs:// DEST): the same
    mirrored name a local DEST gets, under the delivery's prefix."""
    return refs.join(delivery.prefix, output_name(delivery.relative_path, effect, extension))


def reference_identity(uri: str, generation: int, dest: str) -> str:
    """What stands for the sha256 in a by-reference item's idempotency key: its object
    at one generation (its bytes are hashed only by the worker), and where it goes."""
    return f"{uri}#{generation}>{dest}"


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()
