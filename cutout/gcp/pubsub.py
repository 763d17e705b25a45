"""PubSubJobQueue: job ids on Pub/Sub, one topic and pull subscription per tier.

How the port's guarantees are kept (names and policies: :mod:`cutout.gcp.topology`):

- **Tiers.** :meth:`PubSubJobQueue.pull` asks the tiers' subscriptions in the order
  :class:`~cutout.tier_order.TierOrder` gives (strict priority, plus the batch tier's
  starvation guard). Each ask is a unary pull with ``return_immediately``: a non-blocking
  look at one tier is what priority order needs, and a blocking pull cancelled by a
  client-side timeout would lose the messages already in flight to it (they would count
  as a failed delivery). The flag is deprecated because the service may answer empty
  when messages exist; then the next poll, at most ``poll_max_s`` later, finds them.
  When every tier is empty the queue polls with backoff until ``wait_s`` runs out.
- **Leases** are ack deadlines: :meth:`extend` and a delayed :meth:`nack` set the
  deadline, a plain nack sets it to zero (redelivery then follows the subscription's
  exponential retry policy).
- **Dead letters after exactly ``max_attempts`` deliveries.** Pub/Sub's own dead-letter
  policy cannot go below 5 attempts and counts approximately, so the adapter enforces
  the limit: a nack of the last attempt, or a delivery past the limit (the last lease ran
  out), is republished to the dead-letter topic (attribute ``delivery_attempts``) and
  acked. The subscription's policy stays as the backstop. Republishing needs
  ``roles/pubsub.publisher`` on the dead-letter topic for the worker's account.
- **Messages** carry the job id as data and as the ``job_id`` attribute, plus the
  ``priority`` attribute; publishes from concurrent threads are batched by the client.
- **Depth** comes from a ``backlog`` callable (the status store's count of queued and
  running jobs per priority): Pub/Sub reports backlog only through Cloud Monitoring,
  minutes late, and the emulator not at all.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace

from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient
from google.pubsub_v1.types import ReceivedMessage

from cutout.errors import InvalidInput
from cutout.gcp.errors import translated
from cutout.gcp.topology import MAX_ACK_DEADLINE_S, Names
from cutout.job import Priority
from cutout.ports import JobQueue, Message
from cutout.tier_order import TierOrder

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_S = 60.0
POLL_MIN_S = 0.05
#: Attribute on dead letters the adapter forwards: deliveries made before giving up.
ATTEMPTS_ATTRIBUTE = "delivery_attempts"
#: The same count on dead letters forwarded by Pub/Sub's own dead-letter policy.
NATIVE_ATTEMPTS_ATTRIBUTE = "CloudPubSubDeadLetterSourceDeliveryCount"
_DEAD = "dead-letter"


class PubSubJobQueue(JobQueue):
    def __init__(
        self,
        publisher: PublisherClient,
        subscriber: SubscriberClient,
        names: Names,
        *,
        max_attempts: int,
        backlog: Callable[[], Mapping[Priority, int]],
        guard_every: int,
        poll_max_s: float = 0.5,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, not {max_attempts}")
        self._publisher = publisher
        self._subscriber = subscriber
        self._names = names
        self._max_attempts = max_attempts
        self._backlog = backlog
        self._order = TierOrder(guard_every)
        self._poll_max_s = poll_max_s
        self._uncounted: set[str] = set()

    def publish(self, job_id: str, priority: Priority) -> None:
        if not job_id:
            raise InvalidInput("cannot publish an empty job id")
        self._publish(self._names.topic(priority), job_id, priority)

    def pull(self, max_messages: int, *, wait_s: float) -> list[Message]:
        if max_messages < 1:
            raise ValueError(f"max_messages must be >= 1, not {max_messages}")
        deadline = time.monotonic() + max(wait_s, 0.0)
        pause = POLL_MIN_S
        while True:
            messages = self._pull_once(max_messages)
            remaining = deadline - time.monotonic()
            if messages or remaining <= 0:
                return messages
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, self._poll_max_s)

    def ack(self, messages: Sequence[Message]) -> None:
        for subscription, ack_ids in self._by_subscription(messages).items():
            with translated(f"acking {len(ack_ids)} messages on {subscription}"):
                self._subscriber.acknowledge(subscription=subscription, ack_ids=ack_ids)

    def nack(self, message: Message, *, delay_s: float = 0.0) -> None:
        kind, _ = _split_lease(message.lease_id)
        if kind != _DEAD and message.attempt >= self._max_attempts:
            self._dead_letter(message, attempts=message.attempt)
            return
        self._set_deadline([message], delay_s)

    def extend(self, messages: Sequence[Message], *, lease_s: float) -> None:
        self._set_deadline(messages, lease_s)

    def pull_dead_letters(self, max_messages: int) -> list[Message]:
        """Dead letters as messages whose ``attempt`` is the number of deliveries made
        before the message was given up on."""
        subscription = self._names.dead_letter_subscription
        messages = []
        for received in self._pull_raw(subscription, max_messages):
            attributes = received.message.attributes
            message = self._message(received, subscription, _priority(attributes), _DEAD)
            if message is None:
                continue
            attempts = attributes.get(ATTEMPTS_ATTRIBUTE) or attributes.get(
                NATIVE_ATTEMPTS_ATTRIBUTE
            )
            messages.append(replace(message, attempt=int(attempts or 1)))
        return messages

    def depth(self) -> Mapping[Priority, int]:
        return dict(self._backlog())

    def close(self) -> None:
        """Flush pending publishes and close the connections."""
        self._publisher.stop()
        self._subscriber.close()

    def _pull_once(self, max_messages: int) -> list[Message]:
        got: list[Message] = []
        empty: set[Priority] = set()
        for step in self._order.plan():
            room = max_messages - len(got)
            want = room if step.limit is None else min(step.limit, room)
            if want <= 0 or step.tier in empty:
                continue
            batch = self._pull_tier(step.tier, want)
            if not batch:
                empty.add(step.tier)
            got.extend(batch)
        self._order.record(m.priority for m in got)
        return got

    def _pull_tier(self, tier: Priority, max_messages: int) -> list[Message]:
        subscription = self._names.subscription(tier)
        messages = []
        for received in self._pull_raw(subscription, max_messages):
            message = self._message(received, subscription, tier, tier.value)
            if message is None:
                continue
            if message.attempt > self._max_attempts:
                self._dead_letter(message, attempts=message.attempt - 1)
                continue
            messages.append(message)
        return messages

    def _pull_raw(self, subscription: str, max_messages: int) -> Sequence[ReceivedMessage]:
        request = {
            "subscription": subscription,
            "max_messages": max_messages,
            "return_immediately": True,
        }
        with translated(f"pulling from {subscription}"):
            return list(self._subscriber.pull(request=request).received_messages)

    def _message(
        self, received: ReceivedMessage, subscription: str, tier: Priority, kind: str
    ) -> Message | None:
        """The port's view of a delivery; a message that is not ours (no job id) is
        logged and acked, since no job could ever consume it."""
        job_id = received.message.attributes.get("job_id")
        if not job_id:
            log.error(
                "dropping message %s on %s: no job_id (attributes %s)",
                received.message.message_id,
                subscription,
                dict(received.message.attributes),
            )
            with translated(f"acking malformed message on {subscription}"):
                self._subscriber.acknowledge(subscription=subscription, ack_ids=[received.ack_id])
            return None
        if not received.delivery_attempt and kind != _DEAD and subscription not in self._uncounted:
            self._uncounted.add(subscription)
            log.error(
                "%s has no dead-letter policy, so Pub/Sub does not count deliveries: "
                "its messages will never be dead-lettered (see cutout/gcp/topology.py)",
                subscription,
            )
        attempt = max(received.delivery_attempt, 1)
        return Message(job_id, tier, attempt, f"{kind}:{received.ack_id}")

    def _dead_letter(self, message: Message, *, attempts: int) -> None:
        log.warning(
            "job %s: dead-lettering its %s message after %d deliveries",
            message.job_id,
            message.priority.value,
            attempts,
        )
        self._publish(
            self._names.dead_letter_topic,
            message.job_id,
            message.priority,
            **{ATTEMPTS_ATTRIBUTE: str(attempts)},
        )
        self.ack([message])

    def _publish(self, topic: str, job_id: str, priority: Priority, **extra: str) -> None:
        with translated(f"publishing job {job_id} to {topic}"):
            future = self._publisher.publish(
                topic, job_id.encode(), job_id=job_id, priority=priority.value, **extra
            )
            future.result(timeout=PUBLISH_TIMEOUT_S)

    def _set_deadline(self, messages: Sequence[Message], seconds: float) -> None:
        deadline = min(max(math.ceil(seconds), 0), MAX_ACK_DEADLINE_S)
        for subscription, ack_ids in self._by_subscription(messages).items():
            with translated(f"setting a {deadline}s ack deadline on {subscription}"):
                self._subscriber.modify_ack_deadline(
                    subscription=subscription, ack_ids=ack_ids, ack_deadline_seconds=deadline
                )

    def _by_subscription(self, messages: Iterable[Message]) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = defaultdict(list)
        for message in messages:
            kind, ack_id = _split_lease(message.lease_id)
            subscription = (
                self._names.dead_letter_subscription
                if kind == _DEAD
                else self._names.subscription(Priority(kind))
            )
            groups[subscription].append(ack_id)
        return groups


def _priority(attributes: Mapping[str, str]) -> Priority:
    try:
        return Priority(attributes.get("priority", ""))
    except ValueError:
        log.warning("dead letter with priority %r; treating it as standard", attributes)
        return Priority.STANDARD


def _split_lease(lease_id: str) -> tuple[str, str]:
    kind, sep, ack_id = lease_id.partition(":")
    if not sep or not ack_id:
        raise ValueError(f"not a Pub/Sub lease id: {lease_id!r}")
    return kind, ack_id
