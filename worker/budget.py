"""A memory budget for decoded photos, counted in pixels.

A 50 MP photo costs about 150 MB decoded and, while it is composed and rendered, some
40 bytes per pixel more (foreground estimation, effect buffers). The worker takes a share
of this budget before decoding and gives each photo's share back once its results are
stored, so two batches in flight overlap when photos are phone-sized and run one after
the other when they are huge, and no batch of 50 MP photos can exhaust memory.
"""

from __future__ import annotations

import threading


class PixelBudget:
    """Guarantees: :meth:`acquire` takes its whole amount at once (never part of it, so two
    waiting batches cannot deadlock each other); an amount larger than the capacity is
    granted when nothing else is held, so one oversized photo still goes through, alone."""

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self.capacity = capacity
        self._used = 0
        self._changed = threading.Condition()

    @property
    def used(self) -> int:
        with self._changed:
            return self._used

    def acquire(self, pixels: int) -> None:
        with self._changed:
            while self._used and self._used + pixels > self.capacity:
                self._changed.wait()
            self._used += pixels

    def release(self, pixels: int) -> None:
        with self._changed:
            self._used -= pixels
            if self._used < 0:
                raise RuntimeError("released more pixels than were acquired")
            self._changed.notify_all()


def chunks(sizes: list[int], capacity: int) -> list[list[int]]:
    """Split items (their pixel counts, in order) into consecutive runs that each fit the
    capacity; an item larger than the capacity is a run of its own."""
    runs: list[list[int]] = []
    total = 0
    for index, size in enumerate(sizes):
        if runs and total + size <= capacity:
            runs[-1].append(index)
            total += size
        else:
            runs.append([index])
            total = size
    return runs
