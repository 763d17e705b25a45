"""Pub/Sub names and the subscriptions' policies, shared with Terraform.

Names: topic ``<prefix>-<tier>`` with pull subscription ``<prefix>-<tier>-worker`` for
each tier (high, standard, batch), and dead-letter topic ``<prefix>-dead-letter`` with
subscription ``<prefix>-dead-letter-worker``. One subscription per tier rather than one
filtered subscription: the emulator stores filters but does not apply them, and separate
subscriptions keep retention, backlog and dead-lettering per tier.

:func:`ensure_topology` creates them for emulators and local use; production creates the
same names and policies in Terraform (infra/), and the adapters never create anything
there.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from google.api_core import exceptions as gexc
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient

from cutout.errors import ConfigurationError
from cutout.gcp.errors import translated
from cutout.job import Priority

log = logging.getLogger(__name__)

#: Pub/Sub's bounds for dead-letter delivery attempts, ack deadlines and backoff.
PUBSUB_MIN_DELIVERY_ATTEMPTS = 5
PUBSUB_MAX_DELIVERY_ATTEMPTS = 100
MAX_ACK_DEADLINE_S = 600
MAX_BACKOFF_S = 600

_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9._~+%-]{0,200}")


@dataclass(frozen=True)
class Names:
    """Fully qualified topic and subscription paths for one project and prefix."""

    project: str
    prefix: str

    def __post_init__(self) -> None:
        if not _PREFIX.fullmatch(self.prefix) or self.prefix.lower().startswith("goog"):
            raise ConfigurationError(
                f"CUTOUT_TOPIC_PREFIX {self.prefix!r} is not a valid Pub/Sub name start "
                "(a letter, then letters, digits or ._~+%-; not 'goog')"
            )

    def topic(self, tier: Priority) -> str:
        return f"projects/{self.project}/topics/{self.prefix}-{tier.value}"

    def subscription(self, tier: Priority) -> str:
        return f"projects/{self.project}/subscriptions/{self.prefix}-{tier.value}-worker"

    @property
    def dead_letter_topic(self) -> str:
        return f"projects/{self.project}/topics/{self.prefix}-dead-letter"

    @property
    def dead_letter_subscription(self) -> str:
        return f"projects/{self.project}/subscriptions/{self.prefix}-dead-letter-worker"


@dataclass(frozen=True)
class Policy:
    """What every tier subscription is created with.

    ``max_attempts`` below Pub/Sub's minimum of 5 is enforced by the queue adapter
    itself; the subscription's own dead-letter policy (at least 5) is the backstop.
    The retry policy backs a nacked message off exponentially from ``retry_base_s`` up
    to 600 s; ``retry_base_s=0`` means no retry policy, i.e. redeliver at once (with any
    retry policy the emulator backs off by 1 to 3 s, whatever its minimum).
    """

    lease_s: int
    max_attempts: int
    retry_base_s: float

    @property
    def ack_deadline_s(self) -> int:
        return min(self.lease_s, MAX_ACK_DEADLINE_S)

    @property
    def native_max_attempts(self) -> int:
        return min(
            max(self.max_attempts, PUBSUB_MIN_DELIVERY_ATTEMPTS), PUBSUB_MAX_DELIVERY_ATTEMPTS
        )

    @property
    def min_backoff(self) -> dict[str, int]:
        seconds = min(self.retry_base_s, MAX_BACKOFF_S)
        return {"seconds": int(seconds), "nanos": round((seconds % 1) * 1e9)}

    def subscription(self, names: Names, tier: Priority) -> dict[str, object]:
        request: dict[str, object] = {
            "name": names.subscription(tier),
            "topic": names.topic(tier),
            "ack_deadline_seconds": self.ack_deadline_s,
            "dead_letter_policy": {
                "dead_letter_topic": names.dead_letter_topic,
                "max_delivery_attempts": self.native_max_attempts,
            },
            "expiration_policy": {},  # never expire, however long a tier stays idle
        }
        if self.retry_base_s > 0:
            request["retry_policy"] = {
                "minimum_backoff": self.min_backoff,
                "maximum_backoff": {"seconds": MAX_BACKOFF_S},
            }
        return request


def ensure_topology(
    publisher: PublisherClient,
    subscriber: SubscriberClient,
    names: Names,
    policy: Policy,
) -> None:
    """Create every topic and subscription that is missing; existing ones are left as
    they are (idempotent, safe to run from several processes at once). The dead-letter
    subscription is created before the tiers, so no dead letter is ever dropped."""
    _create(publisher.create_topic, {"name": names.dead_letter_topic})
    _create(
        subscriber.create_subscription,
        {
            "name": names.dead_letter_subscription,
            "topic": names.dead_letter_topic,
            "expiration_policy": {},
        },
    )
    for tier in Priority:
        _create(publisher.create_topic, {"name": names.topic(tier)})
        _create(subscriber.create_subscription, policy.subscription(names, tier))


def _create(rpc: Callable[..., object], request: dict[str, object]) -> None:
    with translated(f"creating {request['name']}"):
        try:
            rpc(request=request)
            log.info("created %s", request["name"])
        except gexc.AlreadyExists:
            return
