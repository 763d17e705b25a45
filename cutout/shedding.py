"""Load shedding: a bound on each tier's backlog, checked before a job is accepted.

Workers drain the most urgent tier first (cutout/tier_order.py), so a new job waits
behind the jobs of its own tier *and every tier above it*: that sum is what each tier's
bound limits. With the bounds ordered ``high >= standard >= batch`` (checked here and in
cutout/settings.py) and the sums growing from ``high`` down to ``batch``, a tier is
never shed while a less urgent one is admitted: ``batch`` sheds first, ``high`` last.

It is only an admission check: a refused job was never written, and nothing already
accepted is ever dropped. The backlog counts are the queue's ``depth()`` (on GCP the
status store's ``backlog()``: three count queries), so :class:`BacklogCache` reads them
at most once a second per process; a bound may therefore be overshot by what one process
admits in that second, which is fine for a bound whose job is to keep waits finite.

``Retry-After`` estimates when the backlog will be back under the bound: the jobs over
it divided by ``drain_per_s`` (the rate the workers clear), clamped to 1..300 s.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cutout.errors import ConfigurationError, Overloaded
from cutout.job import Priority
from cutout.settings import Settings

MIN_RETRY_AFTER_S = 1
MAX_RETRY_AFTER_S = 300


@dataclass(frozen=True)
class ShedDecision:
    """What :meth:`SheddingPolicy.decide` says about one new job of ``tier``."""

    admitted: bool
    tier: Priority
    waiting: int  # jobs the new one would wait behind: its tier and those above
    bound: int
    retry_after_s: int  # 0 when admitted

    def raise_if_shed(self) -> None:
        """Raise :class:`~cutout.errors.Overloaded` (the edge's 503) when not admitted."""
        if not self.admitted:
            raise Overloaded(
                f"the {self.tier.value} tier is overloaded: {self.waiting} jobs are waiting "
                f"at this priority or above (bound {self.bound}); retry in "
                f"{self.retry_after_s} s",
                retry_after_s=self.retry_after_s,
            )


@dataclass(frozen=True)
class SheddingPolicy:
    bounds: Mapping[Priority, int]
    drain_per_s: float

    def __post_init__(self) -> None:
        ordered = [self.bounds[tier] for tier in Priority]  # KeyError: a tier without bound
        if any(b < 1 for b in ordered) or ordered != sorted(ordered, reverse=True):
            raise ConfigurationError(
                f"backlog bounds must be >= 1 and shed batch first: high >= standard >= "
                f"batch, got {dict(zip((t.value for t in Priority), ordered, strict=True))}"
            )
        if self.drain_per_s <= 0:
            raise ConfigurationError(f"drain_per_s must be > 0, not {self.drain_per_s}")

    @classmethod
    def from_settings(cls, settings: Settings) -> SheddingPolicy:
        return cls(
            bounds={
                Priority.HIGH: settings.backlog_bound_high,
                Priority.STANDARD: settings.backlog_bound_standard,
                Priority.BATCH: settings.backlog_bound_batch,
            },
            drain_per_s=settings.backlog_drain_per_s,
        )

    def decide(self, backlog: Mapping[Priority, int], tier: Priority) -> ShedDecision:
        """Admit a new ``tier`` job while fewer than its bound wait ahead of it. Pure: a
        function of the counts (missing tiers count 0) and the tier only."""
        waiting = sum(backlog.get(t, 0) for t in Priority if t.rank <= tier.rank)
        bound = self.bounds[tier]
        if waiting < bound:
            return ShedDecision(True, tier, waiting, bound, 0)
        over = waiting - bound + 1
        retry = math.ceil(over / self.drain_per_s)
        retry = min(MAX_RETRY_AFTER_S, max(MIN_RETRY_AFTER_S, retry))
        return ShedDecision(False, tier, waiting, bound, retry)


class BacklogCache:
    """The backlog counts, read at most once per ``max_age_s`` (per process, thread-safe).

    A failed read raises to the caller and is retried on the next call: shedding on a
    stale count from minutes ago would be worse than the request failing."""

    def __init__(
        self,
        read: Callable[[], Mapping[Priority, int]],
        *,
        max_age_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._max_age_s = max_age_s
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: dict[Priority, int] = {}
        self._read_at: float | None = None

    def counts(self) -> dict[Priority, int]:
        with self._lock:
            now = self._clock()
            if self._read_at is None or now - self._read_at >= self._max_age_s:
                self._counts = dict(self._read())
                self._read_at = now
            return dict(self._counts)
