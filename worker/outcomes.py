"""What becomes of the jobs a batch claimed and of their messages, decided in one place
(the error policy, :mod:`cutout.policy`): a bad input fails its job, anything else that
goes wrong with one job hands it back with the retry backoff, and on shutdown or a fatal
error every job not yet finished is handed back with its attempt refunded.

Every message is acked or nacked once. Acks and nacks never crash the worker: if the
queue is unreachable, the lease runs out and the message comes back, which every step
of a batch tolerates.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from cutout import lifecycle
from cutout.backends import Backends
from cutout.codes import ErrorCode
from cutout.errors import Conflict, CutoutError
from cutout.job import ErrorInfo, Job
from cutout.lease_keeper import LeaseKeeper
from cutout.log_fields import log_finished
from cutout.policy import Retry, Verdict, classify, is_expected
from cutout.ports.queue import Message
from cutout.settings import Settings
from worker.fetch import budgeted_pixels

log = logging.getLogger(__name__)


@dataclass
class Claimed:
    """A claimed job travelling through the batch."""

    message: Message
    job: Job
    stages: dict[str, float] = field(default_factory=dict)
    rgb: np.ndarray | None = None
    preview: Future[None] | None = None

    @property
    def pixels(self) -> int:
        return budgeted_pixels(self.job.input)


@dataclass
class Outcomes:
    """One batch's outcomes, with the leases its messages are held by."""

    settings: Settings
    backends: Backends
    leases: LeaseKeeper
    worker_id: str
    _settled: set[str] = field(default_factory=set, init=False)

    @property
    def retry(self) -> Retry:
        return Retry.from_settings(self.settings)

    def handle(self, item: Claimed, exc: Exception, doing: str) -> None:
        """The error policy for one job: fail it (bad input), retry it, or (fatal) raise."""
        verdict = classify(exc)
        if verdict is Verdict.STOP:
            raise exc
        if verdict is Verdict.FAIL and isinstance(exc, CutoutError):
            self.fail(item, ErrorInfo(code=exc.code, message=exc.message))
            return
        log_failure(item.job.id, doing, exc)
        self._retry(item, exc)

    def fail(self, item: Claimed, error: ErrorInfo) -> None:
        try:
            failed = lifecycle.fail(self.backends.status, item.job.id, error, stages=item.stages)
        except Conflict:
            log.info("job %s: finished (or cancelled) by someone else first", item.job.id)
        except Exception as exc:
            if classify(exc) is Verdict.STOP:
                raise
            log_failure(item.job.id, "recording the failure", exc)
            self.nack(item.message, delay_s=self.retry.delay(item.message.attempt))
            return
        log_finished(log, failed, self.worker_id)
        self.ack(item.message)

    def _retry(self, item: Claimed, exc: Exception) -> None:
        """Hand the job back with the error noted; the queue redelivers it after a backoff
        (or dead-letters it once it has had ``max_attempts`` deliveries)."""
        error = ErrorInfo(code=ErrorCode.TRANSIENT, message=f"{type(exc).__name__}: {exc}")
        self._hand_back(item, error=error, refund=False)
        self.nack(item.message, delay_s=self.retry.delay(item.message.attempt))

    def settle_the_rest(self, messages: Sequence[Message], items: Sequence[Claimed]) -> None:
        """Hand back every claimed job not yet settled (shutdown, a fatal error) with its
        attempt refunded, and give back every message not yet acked or nacked, visible
        again once any pull this stopping worker still has in flight is over (one poll
        plus one top-up): another worker takes it then, this one no longer can."""
        for item in items:
            if item.message.lease_id not in self._settled:
                log.info("job %s: not finished here; handing it back", item.job.id)
                self._hand_back(item, error=None, refund=True)
        hand_back_delay = self.settings.poll_s + self.settings.batch_wait_ms / 1000
        for message in messages:
            if message.lease_id not in self._settled:
                self.nack(message, delay_s=hand_back_delay)

    def _hand_back(self, item: Claimed, *, error: ErrorInfo | None, refund: bool) -> None:
        try:
            lifecycle.hand_back(self.backends.status, item.job.id, error=error, refund=refund)
        except Exception:
            log.exception("job %s: could not hand the job back; the lease will", item.job.id)

    def ack(self, message: Message) -> None:
        self._settled.add(message.lease_id)
        self.leases.release(message)
        try:
            self.backends.queue.ack([message])
        except Exception:
            log.exception("job %s: ack failed; it will be redelivered", message.job_id)

    def nack(self, message: Message, *, delay_s: float) -> None:
        self._settled.add(message.lease_id)
        self.leases.release(message)
        try:
            self.backends.queue.nack(message, delay_s=delay_s)
        except Exception:
            log.exception("job %s: nack failed; its lease will run out", message.job_id)


def log_failure(job_id: str, doing: str, exc: BaseException) -> None:
    """One line for an error we raise on purpose, the traceback for a surprise."""
    if is_expected(exc):
        log.warning("job %s: %s failed; will retry: %s", job_id, doing, exc)
    else:
        log.error("job %s: %s failed; will retry", job_id, doing, exc_info=exc)
