"""The decoded-pixel budget: whole amounts at once, oversized items alone, no deadlock."""

from __future__ import annotations

import threading
import time

import pytest

from worker.budget import PixelBudget, chunks


def test_chunks_fit_the_capacity_and_keep_the_order() -> None:
    assert chunks([10, 20, 30], 100) == [[0, 1, 2]]
    assert chunks([50, 50, 50, 50], 100) == [[0, 1], [2, 3]]
    assert chunks([150, 10, 10], 100) == [[0], [1, 2]]  # oversized: a run of its own
    assert chunks([], 100) == []


def test_acquire_waits_until_the_amount_fits() -> None:
    budget = PixelBudget(100)
    budget.acquire(70)
    got = threading.Event()

    def take() -> None:
        budget.acquire(50)
        got.set()

    threading.Thread(target=take, daemon=True).start()
    assert not got.wait(0.2)
    budget.release(70)
    assert got.wait(2)
    assert budget.used == 50


def test_an_oversized_amount_goes_through_alone() -> None:
    budget = PixelBudget(100)
    budget.acquire(250)
    assert budget.used == 250
    budget.release(250)


def test_two_batches_competing_never_deadlock() -> None:
    """Each acquires its whole chunk at once, so neither holds part while waiting."""
    budget = PixelBudget(100)
    peak = 0
    lock = threading.Lock()

    def batch() -> None:
        nonlocal peak
        for _ in range(20):
            budget.acquire(60)
            with lock:
                peak = max(peak, budget.used)
            time.sleep(0.001)
            budget.release(60)

    threads = [threading.Thread(target=batch) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert not any(t.is_alive() for t in threads)
    assert peak <= 100 and budget.used == 0


def test_releasing_more_than_held_is_a_bug() -> None:
    with pytest.raises(RuntimeError):
        PixelBudget(10).release(1)
