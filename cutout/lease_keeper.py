"""Keeps the leases of in-progress messages alive while a worker processes a batch.

A batch can take longer than one lease (a slow CPU, a cold model, a queue of 50 MP
photos); without extensions the queue would hand the same jobs to another worker while
this one is still working on them. The keeper works with any
:class:`~cutout.ports.JobQueue` through :meth:`~cutout.ports.JobQueue.extend`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType

from cutout.ports import JobQueue, Message

log = logging.getLogger(__name__)


class LeaseKeeper:
    """A background thread that extends every held message's lease by ``lease_s``, every
    ``interval_s`` (a third of ``lease_s`` by default, so two failed extensions in a row
    still leave time before expiry).

    Guarantees: a message is extended from :meth:`hold` until :meth:`release` or
    :meth:`stop`; a message held longer than ``max_hold_s`` is no longer extended (logged),
    so a hung worker gives its jobs back to the queue instead of holding them for ever.
    A failed extension is logged and retried on the next tick; it never raises into the
    worker. Used as a context manager it starts on entry and stops on exit::

        with LeaseKeeper(queue, messages, lease_s=settings.lease_s) as leases:
            ...
            leases.release(message)  # after acking or nacking it
    """

    def __init__(
        self,
        queue: JobQueue,
        messages: Iterable[Message] = (),
        *,
        lease_s: float,
        interval_s: float | None = None,
        max_hold_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if lease_s <= 0 or max_hold_s <= 0:
            raise ValueError("lease_s and max_hold_s must be positive")
        self._queue = queue
        self._lease_s = lease_s
        self._interval_s = interval_s if interval_s is not None else lease_s / 3
        if self._interval_s <= 0 or self._interval_s >= lease_s:
            raise ValueError(f"interval_s must be in (0, {lease_s}), not {self._interval_s}")
        self._max_hold_s = max_hold_s
        self._clock = clock
        self._held: dict[str, tuple[Message, float]] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self.hold(messages)

    def hold(self, messages: Iterable[Message]) -> None:
        """Start keeping these leases alive."""
        now = self._clock()
        with self._lock:
            for message in messages:
                self._held.setdefault(message.lease_id, (message, now))

    def release(self, *messages: Message) -> None:
        """Stop extending these (they were acked or nacked)."""
        with self._lock:
            for message in messages:
                self._held.pop(message.lease_id, None)

    @property
    def held(self) -> list[Message]:
        with self._lock:
            return [message for message, _ in self._held.values()]

    def start(self) -> LeaseKeeper:
        if self._thread is not None:
            raise RuntimeError("lease keeper already started")
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and forget every held message (their leases then run out)."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            self._held.clear()

    def __enter__(self) -> LeaseKeeper:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def tick(self) -> None:
        """Extend every held lease once, now (the thread calls this every interval)."""
        now = self._clock()
        with self._lock:
            overdue = [m for m, since in self._held.values() if now - since > self._max_hold_s]
            for message in overdue:
                del self._held[message.lease_id]
            current = [message for message, _ in self._held.values()]
        for message in overdue:
            log.warning(
                "job %s: held for more than %.0fs; no longer extending its lease",
                message.job_id,
                self._max_hold_s,
            )
        if not current:
            return
        try:
            self._queue.extend(current, lease_s=self._lease_s)
        except Exception:
            log.exception(
                "extending %d leases (jobs %s) failed; retrying in %.1fs",
                len(current),
                ", ".join(m.job_id for m in current),
                self._interval_s,
            )

    def _run(self) -> None:
        while not self._stopped.wait(self._interval_s):
            self.tick()
