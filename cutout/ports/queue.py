"""JobQueue: at-least-once delivery of job ids, by priority tier, with leases."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cutout.job import Priority


@dataclass(frozen=True)
class Message:
    """A leased delivery. ``attempt`` counts deliveries of this message, starting at 1;
    ``lease_id`` is opaque and only valid for the adapter that made it."""

    job_id: str
    priority: Priority
    attempt: int
    lease_id: str


class JobQueue(ABC):
    """Guarantees every adapter keeps:

    - **At least once.** A published message is delivered until it is acked. A lease that
      runs out (the worker died or stalled) makes the message deliverable again; so does
      :meth:`nack`. Consumers must therefore tolerate redelivery.
    - **Tiers.** :meth:`pull` serves ``high`` before ``standard`` before ``batch``; within
      a tier, oldest first (best effort on Pub/Sub, strict on SQLite). Every adapter keeps
      the batch tier's starvation guard of :class:`~cutout.tier_order.TierOrder` with the
      ``batch_guard_every`` setting: after that many pulls in a row that served messages
      but no batch one, the next pull offers its first slot to the batch tier (``0``: off).
      The count is per queue object (per worker process).
    - **Dead letters.** A message delivered ``max_attempts`` times and then nacked or left
      to expire is moved to the dead-letter queue instead of being delivered again;
      :meth:`pull_dead_letters` hands those out so their jobs can be failed. A nack moves
      it at once; an expired last lease moves it at the next :meth:`pull` of its tier
      (Pub/Sub, real or emulated, only dead-letters a message when it would redeliver
      it). Workers pull continuously, so the difference does not show in practice.
    - Ack, nack and extend with a stale lease (the message has since been delivered
      again, acked or dead-lettered) are harmless no-ops. Between a lease running out and
      the next delivery the old holder may or may not still be heard (SQLite honours it;
      Pub/Sub may not), so a late holder must not count on either.
    """

    @abstractmethod
    def publish(self, job_id: str, priority: Priority) -> None:
        """Enqueue one job id; durable when this returns."""

    @abstractmethod
    def pull(self, max_messages: int, *, wait_s: float) -> list[Message]:
        """Lease up to ``max_messages`` messages, highest tier first. Returns as soon as at
        least one is available, or an empty list after ``wait_s`` seconds."""

    @abstractmethod
    def ack(self, messages: Sequence[Message]) -> None:
        """Done with these messages: they are never delivered again."""

    @abstractmethod
    def nack(self, message: Message, *, delay_s: float = 0.0) -> None:
        """Give the message back, deliverable again after ``delay_s`` seconds (unless this
        was its last attempt, in which case it is dead-lettered)."""

    @abstractmethod
    def extend(self, messages: Sequence[Message], *, lease_s: float) -> None:
        """Keep the leases for another ``lease_s`` seconds from now."""

    @abstractmethod
    def pull_dead_letters(self, max_messages: int) -> list[Message]:
        """Lease dead-lettered messages (without waiting); ack them once handled. Their
        ``attempt`` is the number of deliveries the message had before it died."""

    @abstractmethod
    def depth(self) -> Mapping[Priority, int]:
        """The backlog that worker scaling reads, per tier (every tier present): jobs
        published and not yet finished, whether waiting or held by a worker. A job counts
        from the moment it is created queued and published (ingest's order) until it is
        finished and its message acked (the worker's order). In between the adapters may
        differ for a moment (SQLite counts unacked messages, leaving out those due for the
        dead letters; Pub/Sub counts the status store's queued and running jobs), so use it
        as a scaling signal, not an exact count of messages."""
