"""The local journal: a cache of what the service already knows, so a rerun knows which
job each item has without asking. Losing it costs requests, never correctness: the
service answers a resubmitted item with its existing job (the idempotency key).

One JSON object per line, appended and flushed at once, so a SIGKILL loses at most the
line being written (a torn last line is ignored). The last line about an item wins.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SUBMITTED = "submitted"
DONE = "done"
FAILED = "failed"


@dataclass(frozen=True)
class Entry:
    rel: str
    event: str
    job: str | None = None
    code: str | None = None
    message: str | None = None
    retries: int = 0
    cached: bool = False


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries = _read(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def record(self, entry: Entry) -> None:
        line = json.dumps({k: v for k, v in entry.__dict__.items() if v not in (None, 0, False)})
        with self._lock:
            self.entries[entry.rel] = entry
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        self._file.close()


def submissions(path: Path) -> int:
    """How many submissions the journal at ``path`` records (for tests and --status)."""
    if not path.exists():
        return 0
    return sum(1 for line in path.read_text().splitlines() if f'"{SUBMITTED}"' in line)


def _read(path: Path) -> dict[str, Entry]:
    entries: dict[str, Entry] = {}
    if not path.exists():
        return entries
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            raw: dict[str, Any] = json.loads(line)
            entries[raw["rel"]] = Entry(**raw)
        except (ValueError, KeyError, TypeError):
            log.warning("%s: ignoring a torn line", path)
    return entries
