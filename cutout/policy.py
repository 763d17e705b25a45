"""One error policy: what a failure does to a job, and how long to wait before trying
again. The worker, the dead-letter drain and the scaler all read it from here.

- **Bad input** (:class:`~cutout.errors.InvalidInput`, a missing input): the same
  request fails the same way; fail the job with the error's code.
- **Fatal** (:class:`~cutout.errors.ConfigurationError`, which includes
  :class:`~cutout.errors.PermissionDenied` and a model that cannot load, or the OS
  refusing access to a file): nothing this process does will succeed; stop the worker,
  hand its jobs back untouched and say why, so the scaler backs off.
- **Retry** (everything else: :class:`~cutout.errors.TransientError`, lost connections,
  and any unexpected exception while processing *one* job): hand the job back and let the
  queue redeliver it after :meth:`Retry.delay`; the queue dead-letters it after
  ``max_attempts`` deliveries, so one poison photo costs a few attempts, never a worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cutout.errors import ConfigurationError, InvalidInput, NotFound, TransientError
from cutout.settings import Settings


class Verdict(StrEnum):
    FAIL = "fail"  # bad input: fail the job with the error's code
    RETRY = "retry"  # hand the job back; redelivered after a backoff, then dead-lettered
    STOP = "stop"  # fatal for this process: stop the worker, hand every job back


def classify(exc: BaseException) -> Verdict:
    """The one classification of exceptions (see the module docstring)."""
    if isinstance(exc, InvalidInput | NotFound):
        return Verdict.FAIL
    if isinstance(exc, ConfigurationError | PermissionError):
        return Verdict.STOP
    return Verdict.RETRY


def is_expected(exc: BaseException) -> bool:
    """Whether the exception is a condition we raise on purpose (logged in one line) or a
    surprise (logged with its traceback)."""
    return isinstance(exc, TransientError | ConfigurationError | InvalidInput | NotFound)


@dataclass(frozen=True)
class Retry:
    """Exponential backoff, validated at construction: attempt 1 waits ``base_s``, each
    further attempt twice as long, never more than ``cap_s``; ``max_attempts`` is how many
    deliveries a job gets before it is dead-lettered."""

    base_s: float
    cap_s: float
    max_attempts: int = 1

    def __post_init__(self) -> None:
        if self.base_s < 0 or self.cap_s < 0:
            raise ValueError(f"backoff must not be negative: base {self.base_s}, cap {self.cap_s}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {self.max_attempts}")

    @classmethod
    def from_settings(cls, settings: Settings) -> Retry:
        """The job retry policy (nack delays, dead-lettering)."""
        return cls(settings.retry_base_s, settings.retry_cap_s, settings.max_attempts)

    @classmethod
    def for_worker_failures(cls, settings: Settings) -> Retry:
        """How long the scaler waits before starting workers again after the n-th recent
        fatal worker failure."""
        return cls(settings.failure_backoff_s, settings.failure_backoff_cap_s)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after the ``attempt``-th try (counted from 1) failed."""
        return min(self.base_s * 2 ** min(max(attempt - 1, 0), 64), self.cap_s)
