"""JobQueue guarantees, for every adapter family.

Timing-dependent tests poll with generous deadlines (an emulator may be slow) and only
assert absence right after an action, never after a sleep that assumes a speed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from cutout.backends import Backends
from cutout.job import Job, JobState, Priority
from cutout.ports import JobQueue, Message

from .conftest import Family

MakeJob = Callable[..., Job]

#: Pub/Sub refuses fewer than 5 delivery attempts before dead-lettering.
MAX_ATTEMPTS = 5


@pytest.fixture
def queue(backends: Backends) -> JobQueue:
    return backends.queue


def pull_until(
    queue: JobQueue, count: int, *, within_s: float, pull: Callable[[int], list[Message]] | None
) -> list[Message]:
    """Pull until ``count`` messages arrived; fails after ``within_s`` seconds."""
    got: list[Message] = []
    deadline = time.monotonic() + within_s
    while len(got) < count:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"only {len(got)} of {count} messages within {within_s} s"
        if pull is None:
            got += queue.pull(count - len(got), wait_s=min(remaining, 1.0))
        else:
            got += pull(count - len(got))
            time.sleep(0.05)
    return got


def take(queue: JobQueue, count: int = 1, within_s: float = 10.0) -> list[Message]:
    return pull_until(queue, count, within_s=within_s, pull=None)


def take_dead(queue: JobQueue, count: int = 1, within_s: float = 30.0) -> list[Message]:
    return pull_until(queue, count, within_s=within_s, pull=queue.pull_dead_letters)


def lease_window(family: Family) -> float:
    """How long a test waits for a lease to run out and the message to come back."""
    return family.lease_s * 3 + 10


def test_publish_then_pull_and_ack(queue: JobQueue) -> None:
    queue.publish("job-1", Priority.STANDARD)
    [msg] = take(queue)
    assert (msg.job_id, msg.priority, msg.attempt) == ("job-1", Priority.STANDARD, 1)
    assert msg.lease_id
    queue.ack([msg])
    assert queue.pull(1, wait_s=0.5) == []


def test_pull_honours_max_messages(queue: JobQueue) -> None:
    for i in range(5):
        queue.publish(f"job-{i}", Priority.BATCH)
    first = queue.pull(2, wait_s=5)
    assert 1 <= len(first) <= 2
    rest = take(queue, 5 - len(first))
    assert sorted(m.job_id for m in first + rest) == [f"job-{i}" for i in range(5)]


def test_tiers_then_fifo(family: Family, queue: JobQueue) -> None:
    published = [
        ("b1", Priority.BATCH),
        ("s1", Priority.STANDARD),
        ("h1", Priority.HIGH),
        ("b2", Priority.BATCH),
        ("s2", Priority.STANDARD),
        ("h2", Priority.HIGH),
        ("b3", Priority.BATCH),
    ]
    for job_id, priority in published:
        queue.publish(job_id, priority)
    got = take(queue, len(published))
    assert got[0].priority is Priority.HIGH
    assert {m.job_id: m.priority for m in got} == dict(published)
    if family.strict_order:
        assert [m.job_id for m in got] == ["h1", "h2", "s1", "s2", "b1", "b2", "b3"]


def test_one_pull_takes_the_highest_tier_first(family: Family, queue: JobQueue) -> None:
    if not family.strict_order:
        pytest.skip("this family's tier order is best effort: strict one-pull order NOT run")
    queue.publish("batch", Priority.BATCH)
    queue.publish("high", Priority.HIGH)
    [msg] = queue.pull(1, wait_s=5)
    assert msg.job_id == "high"


def test_pull_waits_for_a_message(queue: JobQueue) -> None:
    timer = threading.Timer(0.3, queue.publish, ("late", Priority.STANDARD))
    started = time.monotonic()
    timer.start()
    try:
        got = queue.pull(1, wait_s=20)
    finally:
        timer.join()
    assert [m.job_id for m in got] == ["late"]
    assert time.monotonic() - started < 15


def test_pull_gives_up_after_wait(queue: JobQueue) -> None:
    started = time.monotonic()
    assert queue.pull(3, wait_s=0.5) == []
    assert time.monotonic() - started >= 0.45


def test_concurrent_pullers_never_share_a_message(queue: JobQueue) -> None:
    total = 40
    for i in range(total):
        queue.publish(f"job-{i}", Priority.STANDARD)
    lock = threading.Lock()
    delivered: list[str] = []

    deadline = time.monotonic() + 60

    def consume() -> None:
        while len(delivered) < total and time.monotonic() < deadline:
            got = queue.pull(3, wait_s=0.5)
            if got:
                with lock:
                    delivered.extend(m.job_id for m in got)
                queue.ack(got)

    with ThreadPoolExecutor(4) as pool:
        for future in [pool.submit(consume) for _ in range(4)]:
            future.result()
    assert sorted(delivered) == sorted(f"job-{i}" for i in range(total))


def test_expired_lease_is_redelivered_with_the_next_attempt(
    family: Family, queue: JobQueue
) -> None:
    queue.publish("job-1", Priority.HIGH)
    [first] = take(queue)
    assert queue.pull(1, wait_s=0) == []
    [second] = take(queue, within_s=lease_window(family))
    assert second.job_id == "job-1"
    assert second.attempt == first.attempt + 1
    assert second.lease_id != first.lease_id
    queue.ack([second])


def test_nack_redelivers(queue: JobQueue) -> None:
    queue.publish("job-1", Priority.STANDARD)
    [first] = take(queue)
    queue.nack(first)
    [again] = take(queue)
    assert (again.job_id, again.attempt) == ("job-1", 2)


def test_nack_with_delay_holds_the_message_back(queue: JobQueue) -> None:
    queue.publish("job-1", Priority.STANDARD)
    [first] = take(queue)
    queue.nack(first, delay_s=2)
    assert queue.pull(1, wait_s=0) == []
    [again] = take(queue, within_s=20)
    assert again.attempt == 2


def test_extend_keeps_the_lease(family: Family, queue: JobQueue) -> None:
    queue.publish("job-1", Priority.STANDARD)
    [msg] = take(queue)
    leased_until = time.monotonic() + family.lease_s
    queue.extend([msg], lease_s=family.lease_s * 4)
    # wait past the original lease: the message must stay with its holder
    assert queue.pull(1, wait_s=leased_until - time.monotonic() + family.lease_s) == []
    queue.ack([msg])
    assert queue.pull(1, wait_s=0.5) == []


def test_stale_lease_is_harmless(family: Family, queue: JobQueue) -> None:
    queue.publish("job-1", Priority.STANDARD)
    [stale] = take(queue)
    [current] = take(queue, within_s=lease_window(family))
    queue.ack([stale])
    queue.extend([stale], lease_s=family.lease_s * 4)
    queue.nack(stale)
    # the current holder still owns the message: give it back and see it come again
    queue.nack(current)
    [again] = take(queue)
    assert (again.job_id, again.attempt) == ("job-1", 3)
    queue.ack([again])


def test_ack_of_several(queue: JobQueue) -> None:
    for i in range(3):
        queue.publish(f"job-{i}", Priority.BATCH)
    got = take(queue, 3)
    queue.ack(got)
    assert queue.pull(3, wait_s=0.5) == []


def test_dead_letter_after_max_nacks(open_backends: Callable[..., Backends]) -> None:
    queue = open_backends(max_attempts=MAX_ATTEMPTS).queue
    queue.publish("doomed", Priority.HIGH)
    queue.publish("fine", Priority.BATCH)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        [msg] = take(queue)
        assert (msg.job_id, msg.attempt) == ("doomed", attempt)
        queue.nack(msg)
    [fine] = take(queue)
    assert fine.job_id == "fine"
    queue.ack([fine])
    [dead] = take_dead(queue)
    assert dead.job_id == "doomed"
    assert dead.priority is Priority.HIGH
    assert dead.attempt == MAX_ATTEMPTS
    queue.ack([dead])
    assert queue.pull_dead_letters(5) == []
    assert queue.pull(1, wait_s=0.5) == []


def test_dead_letter_after_last_lease_expires(
    family: Family, open_backends: Callable[..., Backends]
) -> None:
    queue = open_backends(max_attempts=MAX_ATTEMPTS).queue
    queue.publish("stalls", Priority.STANDARD)
    for _ in range(MAX_ATTEMPTS - 1):
        [msg] = take(queue)
        queue.nack(msg)
    [last] = take(queue)
    assert last.attempt == MAX_ATTEMPTS
    time.sleep(family.lease_s)  # the last lease runs out unacked
    # Dead-lettering on expiry happens at the next pull of the tier (see JobQueue), so
    # pull it, as workers do; nothing may be delivered again.
    deadline = time.monotonic() + lease_window(family) + 20
    dead: list[Message] = []
    while not dead:
        assert time.monotonic() < deadline, "the expired message never reached the dead letters"
        assert queue.pull(1, wait_s=0.5) == []
        dead = queue.pull_dead_letters(1)
    assert [m.job_id for m in dead] == ["stalls"]
    queue.ack(dead)
    assert queue.pull(1, wait_s=0.5) == []


def test_unacked_dead_letter_comes_back(
    family: Family, open_backends: Callable[..., Backends]
) -> None:
    queue = open_backends(max_attempts=MAX_ATTEMPTS).queue
    queue.publish("doomed", Priority.STANDARD)
    for _ in range(MAX_ATTEMPTS):
        [msg] = take(queue)
        queue.nack(msg)
    [dead] = take_dead(queue)
    assert queue.pull_dead_letters(1) == []
    [again] = take_dead(queue, within_s=lease_window(family) + 20)
    assert again.job_id == "doomed"
    assert again.lease_id != dead.lease_id
    queue.ack([again])


def test_depth_counts_unfinished_published_jobs(backends: Backends, make_job: MakeJob) -> None:
    """Created and published (as ingest does) → counted, while waiting and while a worker
    holds it; finished and acked (as workers do) → no longer counted."""
    queue, status = backends.queue, backends.status
    assert dict(queue.depth()) == {p: 0 for p in Priority}
    for priority in (Priority.HIGH, Priority.HIGH, Priority.BATCH):
        job = status.create(make_job(priority=priority))
        queue.publish(job.id, priority)
    expected = {Priority.HIGH: 2, Priority.STANDARD: 0, Priority.BATCH: 1}
    assert dict(queue.depth()) == expected
    [held] = take(queue)
    status.transition(held.job_id, [JobState.QUEUED], JobState.RUNNING)
    assert dict(queue.depth()) == expected
    status.transition(held.job_id, [JobState.RUNNING], JobState.DONE)
    queue.ack([held])
    assert dict(queue.depth()) == {**expected, Priority.HIGH: 1}


def test_the_batch_tier_is_served_despite_a_stream_of_higher_work(
    family: Family, open_backends: Callable[..., Backends]
) -> None:
    """guard_every=2: after two pulls that served no batch job, the next one serves the
    batch job first (strict families: exactly the third pull)."""
    queue = open_backends(guard_every=2).queue
    queue.publish("b1", Priority.BATCH)
    for i in range(5):
        queue.publish(f"h{i}", Priority.HIGH)
    tiers = [m.priority for m in take_one_by_one(queue, 6)]
    assert Priority.BATCH in tiers[:3]
    if family.strict_order:
        assert tiers == [Priority.HIGH, Priority.HIGH, Priority.BATCH, *[Priority.HIGH] * 3]


def test_live_traffic_overtakes_a_backfill_which_still_advances(
    family: Family, open_backends: Callable[..., Backends]
) -> None:
    """A backfill's 20 queued batch jobs, then 4 standard and 4 high jobs of live traffic:
    the live jobs are served before the backfill's remaining queued jobs, high first, and
    the starvation guard (every 4th pull here) still moves the batch tier along."""
    queue = open_backends(guard_every=3).queue
    for i in range(20):
        queue.publish(f"b{i}", Priority.BATCH)
    for i in range(4):
        queue.publish(f"s{i}", Priority.STANDARD)
        queue.publish(f"h{i}", Priority.HIGH)
    tiers = [m.priority for m in take_one_by_one(queue, 14)]
    live = [i for i, tier in enumerate(tiers) if tier is not Priority.BATCH]
    assert len(live) == 8, tiers
    assert 2 <= tiers.count(Priority.BATCH) <= 6, tiers
    if family.strict_order:
        H, S, B = Priority.HIGH, Priority.STANDARD, Priority.BATCH
        assert tiers[:11] == [H, H, H, B, H, S, S, B, S, S, B], tiers


def test_without_the_guard_higher_tiers_go_first(
    family: Family, open_backends: Callable[..., Backends]
) -> None:
    if not family.strict_order:
        pytest.skip("this family's tier order is best effort: strict one-pull order NOT run")
    queue = open_backends(guard_every=0).queue
    queue.publish("b1", Priority.BATCH)
    for i in range(4):
        queue.publish(f"h{i}", Priority.HIGH)
    tiers = [m.priority for m in take_one_by_one(queue, 5)]
    assert tiers == [*[Priority.HIGH] * 4, Priority.BATCH]


def take_one_by_one(queue: JobQueue, count: int) -> list[Message]:
    """``count`` pulls of one message each, acked at once (each pull counts for the guard)."""
    got = []
    for _ in range(count):
        [msg] = take(queue)
        queue.ack([msg])
        got.append(msg)
    return got
