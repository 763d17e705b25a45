"""Keeps a batch's queue leases alive while the worker is still busy with it.

Without it, a batch that takes longer than the lease (a slow CPU, a queue of 50 MP
photos) would be redelivered to another worker while this one is still working on it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from types import TracebackType

from cutout.ports.queue import JobQueue, Message

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Context manager: every ``lease_s / 3`` seconds, extend the leases of the messages
    still held. :meth:`release` drops messages that have been acked or nacked."""

    def __init__(self, queue: JobQueue, messages: Sequence[Message], *, lease_s: float) -> None:
        self._queue = queue
        self._held = {m.lease_id: m for m in messages}
        self._lease_s = lease_s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def release(self, message: Message) -> None:
        with self._lock:
            self._held.pop(message.lease_id, None)

    def _run(self) -> None:
        while not self._stop.wait(self._lease_s / 3):
            with self._lock:
                held = list(self._held.values())
            if not held:
                continue
            try:
                self._queue.extend(held, lease_s=self._lease_s)
            except Exception:
                log.exception("extending %d leases failed; will retry", len(held))
