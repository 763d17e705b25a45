"""PubSubJobQueue and its topology on Google's Pub/Sub emulator.

What the emulator cannot show: its retry backoff is loose (1 to 3 s whatever the minimum;
the first redeliveries come at once), so the retry policy is checked as stored
configuration; the deferral the adapter controls (``nack(delay_s=...)``) is checked in time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient

from cutout.gcp import open_gcp_backends
from cutout.gcp.pubsub import PubSubJobQueue
from cutout.gcp.topology import MAX_BACKOFF_S, Names
from cutout.job import Priority
from cutout.lease_keeper import LeaseKeeper
from cutout.ports import Message
from cutout.settings import Settings

pytestmark = pytest.mark.emulator

QueueFactory = Callable[..., PubSubJobQueue]


@pytest.fixture
def make_queue(gcp_settings: Settings) -> QueueFactory:
    def make(**overrides: object) -> PubSubJobQueue:
        queue = open_gcp_backends(gcp_settings.with_overrides(**overrides)).queue
        assert isinstance(queue, PubSubJobQueue)
        return queue

    return make


def names(settings: Settings) -> Names:
    return Names(settings.gcp_project, settings.topic_prefix)


def drain(queue: PubSubJobQueue, count: int, *, batch: int = 1) -> list[Message]:
    """Pull ``count`` messages ``batch`` at a time, acking each batch."""
    got: list[Message] = []
    while len(got) < count:
        pulled = queue.pull(batch, wait_s=5)
        assert pulled, f"only {len(got)} of {count} messages arrived"
        queue.ack(pulled)
        got.extend(pulled)
    return got


def test_topology_is_idempotent_and_carries_the_policies(
    make_queue: QueueFactory, gcp_settings: Settings
) -> None:
    make_queue(max_attempts=7, retry_base_s=1.5)
    make_queue(max_attempts=7, retry_base_s=1.5)  # second creation: no error
    subscriber = SubscriberClient()
    n = names(gcp_settings)
    for tier in Priority:
        sub = subscriber.get_subscription(subscription=n.subscription(tier))
        assert sub.topic == n.topic(tier)
        assert sub.ack_deadline_seconds == gcp_settings.lease_s
        assert sub.dead_letter_policy.dead_letter_topic == n.dead_letter_topic
        assert sub.dead_letter_policy.max_delivery_attempts == 7
        assert sub.retry_policy.minimum_backoff.total_seconds() == 1.5
        assert sub.retry_policy.maximum_backoff.total_seconds() == MAX_BACKOFF_S
    dead = subscriber.get_subscription(subscription=n.dead_letter_subscription)
    assert dead.topic == n.dead_letter_topic
    assert n.subscription(Priority.HIGH).endswith(f"/{gcp_settings.topic_prefix}-high-worker")


def test_native_dead_letter_policy_never_goes_below_pubsubs_minimum(
    make_queue: QueueFactory, gcp_settings: Settings
) -> None:
    make_queue(max_attempts=2, retry_base_s=0)
    sub = SubscriberClient().get_subscription(
        subscription=names(gcp_settings).subscription(Priority.BATCH)
    )
    assert sub.dead_letter_policy.max_delivery_attempts == 5
    assert "retry_policy" not in sub  # no backoff: a nacked message comes back at once


def test_publish_sets_job_id_and_priority(make_queue: QueueFactory, gcp_settings: Settings) -> None:
    queue = make_queue()
    queue.publish("job-1", Priority.HIGH)
    response = SubscriberClient().pull(
        subscription=names(gcp_settings).subscription(Priority.HIGH), max_messages=5, timeout=10
    )
    (received,) = response.received_messages
    assert dict(received.message.attributes) == {"job_id": "job-1", "priority": "high"}
    assert received.message.data == b"job-1"


def test_pull_serves_tiers_in_priority_order(make_queue: QueueFactory) -> None:
    queue = make_queue()
    for job_id, priority in [("b1", Priority.BATCH), ("s1", Priority.STANDARD)]:
        queue.publish(job_id, priority)
    queue.publish("h1", Priority.HIGH)
    one_by_one = [m.job_id for m in drain(queue, 3)]
    assert one_by_one == ["h1", "s1", "b1"]

    for job_id, priority in [("b2", Priority.BATCH), ("s2", Priority.STANDARD)]:
        queue.publish(job_id, priority)
    queue.publish("h2", Priority.HIGH)
    time.sleep(0.2)
    together = queue.pull(10, wait_s=5)
    assert [(m.job_id, m.priority, m.attempt) for m in together] == [
        ("h2", Priority.HIGH, 1),
        ("s2", Priority.STANDARD, 1),
        ("b2", Priority.BATCH, 1),
    ]
    queue.ack(together)


def test_starvation_guard_serves_batch_after_n_pulls(make_queue: QueueFactory) -> None:
    queue = make_queue(batch_guard_every=2)
    queue.publish("b1", Priority.BATCH)
    for i in range(5):
        queue.publish(f"h{i}", Priority.HIGH)
    tiers = [m.priority for m in drain(queue, 6)]
    assert tiers == [Priority.HIGH, Priority.HIGH, Priority.BATCH, *[Priority.HIGH] * 3]


def test_pull_waits_then_returns_empty(make_queue: QueueFactory) -> None:
    queue = make_queue()
    started = time.monotonic()
    assert queue.pull(4, wait_s=1.0) == []
    assert 1.0 <= time.monotonic() - started < 3.0


def test_nack_with_delay_defers_redelivery(make_queue: QueueFactory) -> None:
    queue = make_queue()
    queue.publish("j", Priority.STANDARD)
    (first,) = queue.pull(1, wait_s=5)
    queue.nack(first, delay_s=3)
    assert queue.pull(1, wait_s=1.5) == []
    (again,) = queue.pull(1, wait_s=10)
    assert (again.job_id, again.attempt) == ("j", 2)
    queue.ack([again])


def test_dead_letter_after_max_attempts_nacks(make_queue: QueueFactory) -> None:
    queue = make_queue(max_attempts=2)
    queue.publish("doomed", Priority.HIGH)
    for attempt in (1, 2):
        (message,) = queue.pull(1, wait_s=10)
        assert (message.job_id, message.attempt) == ("doomed", attempt)
        queue.nack(message)
    assert queue.pull(1, wait_s=1.5) == []
    (dead,) = queue.pull_dead_letters(10)
    assert (dead.job_id, dead.priority, dead.attempt) == ("doomed", Priority.HIGH, 2)
    queue.ack([dead])
    assert queue.pull_dead_letters(10) == []


@pytest.mark.slow
def test_dead_letter_when_the_last_lease_runs_out(make_queue: QueueFactory) -> None:
    queue = make_queue(max_attempts=1)
    queue.publish("abandoned", Priority.STANDARD)
    assert len(queue.pull(1, wait_s=10)) == 1  # then the worker "dies": no ack, no nack
    assert queue.pull(1, wait_s=15) == []  # redelivered as attempt 2: dead-lettered
    (dead,) = queue.pull_dead_letters(10)
    assert (dead.job_id, dead.attempt) == ("abandoned", 1)
    queue.ack([dead])


@pytest.mark.slow
def test_lease_keeper_keeps_a_message_past_its_ack_deadline(make_queue: QueueFactory) -> None:
    queue = make_queue()
    other_worker = make_queue()
    queue.publish("long", Priority.STANDARD)
    (message,) = queue.pull(1, wait_s=10)
    with LeaseKeeper(queue, lease_s=10, interval_s=2) as keeper:
        keeper.hold([message])
        assert other_worker.pull(1, wait_s=14) == []  # the 10 s deadline has passed
    # the keeper stopped and nobody acked: the lease runs out, another worker gets it
    (again,) = other_worker.pull(1, wait_s=20)
    assert (again.job_id, again.attempt) == ("long", 2)
    other_worker.ack([again])


def test_stale_ack_nack_and_extend_are_harmless(make_queue: QueueFactory) -> None:
    queue = make_queue()
    queue.publish("j", Priority.BATCH)
    (first,) = queue.pull(1, wait_s=5)
    queue.nack(first)
    (second,) = queue.pull(1, wait_s=10)
    queue.extend([first], lease_s=30)
    queue.nack(first, delay_s=1)
    queue.ack([first])
    assert second.attempt == 2
    queue.ack([second])


def test_a_message_without_job_id_is_dropped_and_logged(
    make_queue: QueueFactory, gcp_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    queue = make_queue()
    publisher = PublisherClient()
    publisher.publish(names(gcp_settings).topic(Priority.HIGH), b"?", origin="elsewhere").result()
    queue.publish("real", Priority.BATCH)
    with caplog.at_level(logging.ERROR):
        messages = queue.pull(5, wait_s=5)
    assert [m.job_id for m in messages] == ["real"]
    assert "no job_id" in caplog.text and "elsewhere" in caplog.text
    queue.ack(messages)
    assert queue.pull(5, wait_s=1) == []


def test_a_subscription_without_dead_letter_policy_is_reported(
    gcp_settings: Settings, make_queue: QueueFactory, caplog: pytest.LogCaptureFixture
) -> None:
    n = names(gcp_settings)
    PublisherClient().create_topic(name=n.topic(Priority.STANDARD))
    SubscriberClient().create_subscription(
        name=n.subscription(Priority.STANDARD), topic=n.topic(Priority.STANDARD)
    )
    queue = make_queue()  # leaves the existing subscription as it is
    queue.publish("j", Priority.STANDARD)
    with caplog.at_level(logging.ERROR):
        (message,) = queue.pull(1, wait_s=5)
    assert message.attempt == 1
    assert "has no dead-letter policy" in caplog.text
    queue.ack([message])
