"""Load shedding (cutout/shedding.py): a pure admission check on the backlog counts."""

from __future__ import annotations

import itertools

import pytest

from cutout.codes import ErrorCode
from cutout.errors import ConfigurationError, Overloaded, TransientError
from cutout.job import Priority
from cutout.settings import Settings
from cutout.shedding import MAX_RETRY_AFTER_S, BacklogCache, SheddingPolicy

HIGH, STANDARD, BATCH = Priority.HIGH, Priority.STANDARD, Priority.BATCH
POLICY = SheddingPolicy(bounds={HIGH: 30, STANDARD: 20, BATCH: 10}, drain_per_s=2.0)


def test_a_tier_is_admitted_below_its_bound_and_shed_at_it() -> None:
    assert POLICY.decide({BATCH: 9}, BATCH).admitted
    shed = POLICY.decide({BATCH: 10}, BATCH)
    assert not shed.admitted
    assert (shed.waiting, shed.bound, shed.retry_after_s) == (10, 10, 1)
    assert POLICY.decide({}, HIGH).admitted  # missing tiers count 0


def test_a_job_waits_behind_its_tier_and_those_above() -> None:
    backlog = {HIGH: 5, STANDARD: 8, BATCH: 0}
    assert POLICY.decide(backlog, BATCH).waiting == 13
    assert not POLICY.decide(backlog, BATCH).admitted  # no batch job waits, yet batch sheds
    assert POLICY.decide(backlog, STANDARD).admitted
    assert POLICY.decide(backlog, HIGH).waiting == 5


def test_batch_sheds_first_and_high_last_for_every_backlog() -> None:
    """For any counts, a shed tier implies every less urgent tier is shed too."""
    for counts in itertools.product(range(0, 36, 5), repeat=3):
        backlog = dict(zip(Priority, counts, strict=True))
        admitted = [POLICY.decide(backlog, tier).admitted for tier in Priority]
        assert admitted == sorted(admitted, reverse=True), backlog


def test_retry_after_grows_with_the_excess_and_is_capped() -> None:
    assert POLICY.decide({BATCH: 10}, BATCH).retry_after_s == 1
    assert POLICY.decide({BATCH: 19}, BATCH).retry_after_s == 5  # 10 over, 2 jobs/s
    assert POLICY.decide({BATCH: 10**6}, BATCH).retry_after_s == MAX_RETRY_AFTER_S


def test_shedding_raises_overloaded_with_retry_after() -> None:
    POLICY.decide({STANDARD: 3}, STANDARD).raise_if_shed()  # admitted: nothing raised
    with pytest.raises(Overloaded) as caught:
        POLICY.decide({STANDARD: 25}, STANDARD).raise_if_shed()
    error = caught.value
    assert isinstance(error, TransientError)
    assert error.code == ErrorCode.OVERLOADED
    assert error.retry_after_s == 3 and error.headers == {"Retry-After": "3"}
    assert "standard tier is overloaded: 25 jobs" in error.message


def test_deciding_changes_nothing() -> None:
    backlog = {HIGH: 1, STANDARD: 2, BATCH: 50}
    before = dict(backlog)
    for tier in Priority:
        POLICY.decide(backlog, tier)
    assert backlog == before


@pytest.mark.parametrize(
    "bounds",
    [{HIGH: 10, STANDARD: 20, BATCH: 5}, {HIGH: 10, STANDARD: 5, BATCH: 0}, {HIGH: 1}],
)
def test_policy_refuses_bounds_that_would_not_shed_batch_first(
    bounds: dict[Priority, int],
) -> None:
    with pytest.raises((ConfigurationError, KeyError)):
        SheddingPolicy(bounds=bounds, drain_per_s=1.0)


def test_settings_refuse_unordered_bounds_and_feed_the_policy() -> None:
    with pytest.raises(ConfigurationError, match="shed batch first"):
        Settings.from_env({"CUTOUT_BACKLOG_BOUND_BATCH": "999999"})
    with pytest.raises(ConfigurationError, match="shed batch first"):
        Settings.from_env({"CUTOUT_BACKLOG_BOUND_HIGH": "1"})
    settings = Settings.from_env(
        {"CUTOUT_BACKLOG_BOUND_STANDARD": "7", "CUTOUT_BACKLOG_BOUND_BATCH": "7"}
    )
    policy = SheddingPolicy.from_settings(settings)
    assert policy.bounds == {HIGH: settings.backlog_bound_high, STANDARD: 7, BATCH: 7}
    assert policy.drain_per_s == settings.backlog_drain_per_s


def test_backlog_cache_reads_at_most_once_per_max_age() -> None:
    now = [100.0]
    reads: list[int] = []

    def read() -> dict[Priority, int]:
        reads.append(1)
        return {BATCH: len(reads)}

    cache = BacklogCache(read, max_age_s=1.0, clock=lambda: now[0])
    assert cache.counts() == {BATCH: 1}
    now[0] += 0.5
    assert cache.counts() == {BATCH: 1} and len(reads) == 1
    now[0] += 0.5
    assert cache.counts() == {BATCH: 2}


def test_backlog_cache_retries_a_failed_read() -> None:
    calls: list[int] = []

    def read() -> dict[Priority, int]:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("store down")
        return {HIGH: 4}

    cache = BacklogCache(read, max_age_s=60.0)
    with pytest.raises(RuntimeError):
        cache.counts()
    assert cache.counts() == {HIGH: 4}
