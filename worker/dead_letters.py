"""Draining the dead-letter queue: the jobs whose messages the queue gave up on are
failed (``dead_lettered``, naming the attempts and the last error).

A dead letter is acked only once its job is failed, or when there is nothing left to do
(the job already finished, or no longer exists). Any other error leaves it: it is nacked
with the retry backoff, so the next drain (this worker's or another's) tries again. A
fatal error (:mod:`cutout.policy`) gives every dead letter in hand back and is raised.
"""

from __future__ import annotations

import logging

from cutout import lifecycle
from cutout.backends import Backends
from cutout.errors import Conflict, NotFound
from cutout.log_fields import log_finished
from cutout.policy import Retry, Verdict, classify
from cutout.ports.queue import Message

log = logging.getLogger(__name__)


def drain_dead_letters(
    backends: Backends, *, max_messages: int, retry: Retry, worker_id: str
) -> int:
    """Handle up to ``max_messages`` dead letters (as worker ``worker_id``, whom the log
    lines name); returns how many were acked."""
    queue = backends.queue
    letters = queue.pull_dead_letters(max_messages)
    acked = 0
    for index, message in enumerate(letters):
        try:
            if _apply(backends, message, worker_id):
                queue.ack([message])
                acked += 1
            else:
                queue.nack(message, delay_s=retry.delay(1))
        except BaseException:
            for untouched in letters[index:]:
                _give_back(backends, untouched)
            raise
    return acked


def _apply(backends: Backends, message: Message, worker_id: str) -> bool:
    """Fail the message's job; whether the dead letter is done with (and may be acked)."""
    try:
        job = lifecycle.dead_letter(backends.status, message.job_id, deliveries=message.attempt)
    except (Conflict, NotFound) as exc:
        log.info("job %s: dead letter needs nothing (%s); acking it", message.job_id, exc)
        return True
    except Exception as exc:
        if classify(exc) is Verdict.STOP:
            raise
        log.warning(
            "job %s: dead letter not applied, left for the next drain: %s", message.job_id, exc
        )
        return False
    log_finished(log, job, worker_id, served=False)
    return True


def _give_back(backends: Backends, message: Message) -> None:
    try:
        backends.queue.nack(message, delay_s=0)
    except Exception:
        log.exception("job %s: dead letter not given back; its lease will run out", message.job_id)
