"""The one error policy: the backoff formula and the classification of exceptions."""

from __future__ import annotations

import pytest

from cutout.errors import (
    ConfigurationError,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    TransientError,
)
from cutout.policy import Retry, Verdict, classify
from cutout.settings import Settings


def test_the_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    retry = Retry(base_s=2, cap_s=20, max_attempts=5)
    assert [retry.delay(n) for n in range(1, 6)] == [2, 4, 8, 16, 20]
    assert retry.delay(10_000) == 20  # no overflow however many attempts
    assert Retry(base_s=0, cap_s=300).delay(3) == 0


@pytest.mark.parametrize(("base", "cap", "attempts"), [(-1, 10, 1), (1, -1, 1), (1, 10, 0)])
def test_a_retry_is_checked_when_it_is_made(base: float, cap: float, attempts: int) -> None:
    with pytest.raises(ValueError, match="must"):
        Retry(base_s=base, cap_s=cap, max_attempts=attempts)


def test_retries_come_from_the_settings() -> None:
    settings = Settings(
        retry_base_s=1.5,
        retry_cap_s=60,
        max_attempts=7,
        failure_backoff_s=10,
        failure_backoff_cap_s=100,
    )
    assert Retry.from_settings(settings) == Retry(1.5, 60, 7)
    assert Retry.for_worker_failures(settings) == Retry(10, 100)


@pytest.mark.parametrize(
    ("exc", "verdict"),
    [
        (InvalidInput("bad photo", code="image_corrupt"), Verdict.FAIL),
        (NotFound("no upload"), Verdict.FAIL),
        (TransientError("503"), Verdict.RETRY),
        (ConnectionResetError("reset"), Verdict.RETRY),
        (Conflict("lost a race"), Verdict.RETRY),
        (RuntimeError("CUDA error: an illegal memory access"), Verdict.RETRY),
        (ConfigurationError("no checkpoint"), Verdict.STOP),
        (PermissionDenied("403"), Verdict.STOP),
        (PermissionError(13, "Permission denied"), Verdict.STOP),
    ],
)
def test_every_exception_has_one_verdict(exc: BaseException, verdict: Verdict) -> None:
    assert classify(exc) is verdict
