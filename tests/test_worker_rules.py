"""The worker loop's rules as pure functions: given the state and a clock reading, when
to keep topping up a batch and when to exit idle (a simulation drives the same code)."""

from __future__ import annotations

import pytest

from worker import rules


def test_an_empty_pull_is_not_topped_up() -> None:
    assert (
        rules.fill_wait(0, 4, first_at=0, now=0, batch_wait_s=1, stopping=False, would_wait=True)
        is None
    )


def test_a_partial_batch_waits_what_is_left_of_the_batch_wait_a_slice_at_a_time() -> None:
    """Slices, so that a batch waiting for the model starts soon after it has loaded,
    not when the window closes."""
    fill = {"first_at": 10.0, "batch_wait_s": 0.2, "stopping": False, "would_wait": True}
    assert rules.fill_wait(1, 4, now=10.0, **fill) == pytest.approx(rules.TOP_UP_SLICE_S)
    assert rules.fill_wait(3, 4, now=10.18, **fill) == pytest.approx(0.02)
    assert rules.TOP_UP_SLICE_S < 0.2


@pytest.mark.parametrize(
    ("have", "now", "batch_wait_s", "stopping"),
    [
        (4, 10.0, 0.2, False),  # full
        (5, 10.0, 0.2, False),  # more than full (never asked for, still no wait)
        (1, 10.2, 0.2, False),  # the batch wait is over
        (1, 10.0, 0.0, False),  # batch_wait_ms=0: never wait
        (1, 10.0, 0.2, True),  # stopping
    ],
)
def test_a_batch_stops_filling(have: int, now: float, batch_wait_s: float, stopping: bool) -> None:
    assert (
        rules.fill_wait(
            have,
            4,
            first_at=10.0,
            now=now,
            batch_wait_s=batch_wait_s,
            stopping=stopping,
            would_wait=True,
        )
        is None
    )


def test_a_lone_job_on_a_ready_idle_worker_goes_at_once() -> None:
    """Topping up pays only while the batch would wait anyway (the device busy with
    another batch, or the model loading); otherwise it only delays the job in hand."""
    fill = {"first_at": 10.0, "now": 10.0, "batch_wait_s": 0.2, "stopping": False}
    assert rules.fill_wait(1, 4, **fill, would_wait=False) is None
    assert rules.fill_wait(1, 4, **fill, would_wait=True) == pytest.approx(rules.TOP_UP_SLICE_S)


def test_idle_time_counts_from_the_last_batch_and_not_while_one_is_in_flight() -> None:
    assert rules.idle_for(0, idle_since=100.0, now=130.0) == 30.0
    assert rules.idle_for(1, idle_since=100.0, now=130.0) == 0.0
    assert rules.idle_for(0, idle_since=100.0, now=99.0) == 0.0  # a clock never runs back


def test_the_worker_exits_only_after_more_than_the_idle_period_with_nothing_in_flight() -> None:
    assert not rules.should_exit_idle(0, idle_since=0.0, now=60.0, idle_exit_s=60)
    assert rules.should_exit_idle(0, idle_since=0.0, now=60.5, idle_exit_s=60)
    assert not rules.should_exit_idle(2, idle_since=0.0, now=600, idle_exit_s=60)
    assert not rules.should_exit_idle(0, idle_since=0.0, now=1e9, idle_exit_s=0)  # 0: never


def test_max_batches() -> None:
    assert not rules.reached_max_batches(5, None)
    assert not rules.reached_max_batches(1, 2)
    assert rules.reached_max_batches(2, 2)
