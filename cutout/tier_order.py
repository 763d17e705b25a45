"""Which tiers a pull asks, and in which order: strict priority with a starvation guard.

Strict priority alone lets a steady stream of high and standard jobs hold the batch tier
back for ever. The guard: after ``guard_every`` consecutive pulls that served messages but
none from the batch tier, the next pull offers its first slot to the batch tier (then
fills the rest in strict order). Under saturation a queued batch job therefore waits at
most ``guard_every + 1`` pulls, and the higher tiers give up at most one slot in that many
pulls. Empty pulls count for nothing. ``guard_every=0`` turns the guard off.

Queue adapters use it the same way: ask :meth:`TierOrder.plan`, pull each step, then tell
:meth:`TierOrder.record` which tiers were served.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from cutout.job import Priority


@dataclass(frozen=True)
class Step:
    """Pull from ``tier`` at most ``limit`` messages (``None``: as many as still fit)."""

    tier: Priority
    limit: int | None = None


_STRICT = tuple(Step(tier) for tier in Priority)


class TierOrder:
    """The plan for each pull; safe to share between threads."""

    def __init__(self, guard_every: int) -> None:
        if guard_every < 0:
            raise ValueError(f"guard_every must be >= 0, not {guard_every}")
        self._guard_every = guard_every
        self._starved = 0
        self._lock = threading.Lock()

    def plan(self) -> tuple[Step, ...]:
        with self._lock:
            if self._guarding():
                return (Step(Priority.BATCH, 1), *_STRICT)
            return _STRICT

    def record(self, served: Iterable[Priority]) -> None:
        """Count one finished pull that served messages from the ``served`` tiers."""
        tiers = set(served)
        if not tiers:
            return
        with self._lock:
            if Priority.BATCH in tiers or self._guarding():
                self._starved = 0
            else:
                self._starved += 1

    def _guarding(self) -> bool:
        return self._guard_every > 0 and self._starved >= self._guard_every
