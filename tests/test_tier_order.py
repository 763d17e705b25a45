from __future__ import annotations

import pytest

from cutout.job import Priority
from cutout.tier_order import Step, TierOrder

STRICT = (Step(Priority.HIGH), Step(Priority.STANDARD), Step(Priority.BATCH))
GUARDED = (Step(Priority.BATCH, 1), *STRICT)


def test_strict_priority_without_contention() -> None:
    order = TierOrder(guard_every=3)
    assert order.plan() == STRICT


def test_batch_gets_the_first_slot_after_n_pulls_without_it() -> None:
    order = TierOrder(guard_every=3)
    for _ in range(3):
        assert order.plan() == STRICT
        order.record([Priority.HIGH, Priority.STANDARD])
    assert order.plan() == GUARDED
    order.record([Priority.BATCH, Priority.HIGH])
    assert order.plan() == STRICT


def test_guard_round_that_found_no_batch_job_resets() -> None:
    order = TierOrder(guard_every=1)
    order.record([Priority.HIGH])
    assert order.plan() == GUARDED
    order.record([Priority.HIGH])  # batch was empty: do not keep paying for the guard
    assert order.plan() == STRICT


def test_serving_batch_resets_and_empty_pulls_count_for_nothing() -> None:
    order = TierOrder(guard_every=2)
    order.record([Priority.HIGH])
    order.record([Priority.BATCH])
    order.record([])
    order.record([])
    order.record([Priority.HIGH])
    assert order.plan() == STRICT
    order.record([Priority.STANDARD])
    assert order.plan() == GUARDED


def test_zero_turns_the_guard_off() -> None:
    order = TierOrder(guard_every=0)
    for _ in range(100):
        order.record([Priority.HIGH])
    assert order.plan() == STRICT


def test_negative_guard_is_rejected() -> None:
    with pytest.raises(ValueError, match="guard_every"):
        TierOrder(guard_every=-1)
