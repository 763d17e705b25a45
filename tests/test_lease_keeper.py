"""LeaseKeeper logic against a recording queue; the Pub/Sub test proves it on the
emulator (tests/test_gcp_pubsub.py)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence

import pytest

from cutout.errors import TransientError
from cutout.job import Priority
from cutout.lease_keeper import LeaseKeeper
from cutout.ports import JobQueue, Message


class RecordingQueue(JobQueue):
    """Records extend calls; fails the first ``failures`` of them."""

    def __init__(self, failures: int = 0) -> None:
        self.extended: list[tuple[list[str], float]] = []
        self.failures = failures
        self.called = threading.Event()

    def extend(self, messages: Sequence[Message], *, lease_s: float) -> None:
        self.called.set()
        if self.failures:
            self.failures -= 1
            raise TransientError("pubsub unavailable")
        self.extended.append(([m.job_id for m in messages], lease_s))

    def publish(self, job_id: str, priority: Priority) -> None:
        raise NotImplementedError

    def pull(self, max_messages: int, *, wait_s: float) -> list[Message]:
        raise NotImplementedError

    def ack(self, messages: Sequence[Message]) -> None:
        raise NotImplementedError

    def nack(self, message: Message, *, delay_s: float = 0.0) -> None:
        raise NotImplementedError

    def pull_dead_letters(self, max_messages: int) -> list[Message]:
        raise NotImplementedError

    def depth(self) -> Mapping[Priority, int]:
        raise NotImplementedError


def msg(job_id: str) -> Message:
    return Message(job_id, Priority.STANDARD, 1, f"lease-{job_id}")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_tick_extends_held_until_released() -> None:
    queue = RecordingQueue()
    keeper = LeaseKeeper(queue, [msg("a")], lease_s=30)
    keeper.hold([msg("b")])
    keeper.tick()
    keeper.release(msg("a"))
    keeper.tick()
    keeper.release(msg("b"))
    keeper.tick()
    assert queue.extended == [(["a", "b"], 30), (["b"], 30)]


def test_thread_extends_every_interval_and_stop_forgets() -> None:
    queue = RecordingQueue()
    with LeaseKeeper(queue, lease_s=3, interval_s=0.05) as keeper:
        keeper.hold([msg("a")])
        assert queue.called.wait(5)
    assert keeper.held == []
    assert queue.extended[0] == (["a"], 3)


def test_messages_held_past_max_hold_are_let_go(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    queue = RecordingQueue()
    keeper = LeaseKeeper(queue, lease_s=30, max_hold_s=100, clock=clock)
    keeper.hold([msg("old")])
    clock.now = 60
    keeper.hold([msg("new")])
    clock.now = 101
    with caplog.at_level(logging.WARNING):
        keeper.tick()
    assert queue.extended == [(["new"], 30)]
    assert keeper.held == [msg("new")]
    assert "job old: held for more than 100s" in caplog.text


def test_failed_extension_is_logged_and_retried(caplog: pytest.LogCaptureFixture) -> None:
    queue = RecordingQueue(failures=1)
    keeper = LeaseKeeper(queue, lease_s=30)
    keeper.hold([msg("a")])
    with caplog.at_level(logging.ERROR):
        keeper.tick()
    assert "extending 1 leases (jobs a) failed" in caplog.text
    keeper.tick()
    assert queue.extended == [(["a"], 30)]


@pytest.mark.parametrize(("lease_s", "interval_s"), [(0, None), (10, 10), (10, 0)])
def test_bad_timing_is_rejected(lease_s: float, interval_s: float | None) -> None:
    with pytest.raises(ValueError):
        LeaseKeeper(RecordingQueue(), lease_s=lease_s, interval_s=interval_s)
