"""Progress people can read: a tqdm bar on a terminal (done / cached / failed / pending,
images per second, ETA), one log line every ``every_s`` seconds otherwise."""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from typing import Any

import click
from tqdm import tqdm

KINDS = ("done", "cached", "failed", "pending")
LOG_EVERY_S = 5.0


class Progress:
    def __init__(self, total: int, *, interactive: bool | None = None) -> None:
        self.total = total
        self.counts: Counter[str] = Counter()
        self.started = time.monotonic()
        self._finished_here = 0
        self._lock = threading.Lock()
        self._last_line = 0.0
        tty = sys.stderr.isatty() if interactive is None else interactive
        self._bar: Any = tqdm(total=total, unit="img", dynamic_ncols=True) if tty else None

    def add(self, kind: str, n: int = 1, *, here: bool = True) -> None:
        """Count ``n`` items as ``kind``; ``here``: finished by this run (for the rate)."""
        with self._lock:
            self.counts[kind] += n
            if kind != "pending":
                self._finished_here += n if here else 0
                if self._bar is not None:
                    self._bar.update(n)
            self._show()

    def move(self, old: str, new: str) -> None:
        with self._lock:
            self.counts[old] -= 1
        self.add(new)

    def rate(self) -> float:
        return self._finished_here / max(time.monotonic() - self.started, 1e-6)

    def line(self) -> str:
        rate = self.rate()
        left = self.total - sum(self.counts[k] for k in KINDS[:3])
        eta = f"{left / rate:.0f} s" if rate > 0 else "?"
        counts = " ".join(f"{k} {self.counts[k]}" for k in KINDS)
        return f"{counts} of {self.total}; {rate:.1f} images/s; ETA {eta}"

    def tick(self) -> None:
        with self._lock:
            self._show()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        else:
            click.echo(self.line(), err=True)

    def _show(self) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(" ".join(f"{k}={self.counts[k]}" for k in KINDS))
            return
        now = time.monotonic()
        if now - self._last_line >= LOG_EVERY_S:
            self._last_line = now
            click.echo(self.line(), err=True)
