"""Quotas (cutout/quotas.py): subjects, windows, headers; on memory and on a real Redis."""

from __future__ import annotations

import time
from typing import Any, cast

import pytest

from cutout.cli.bench_ingest import free_port
from cutout.codes import ErrorCode
from cutout.errors import RateLimited
from cutout.quotas import (
    CallerKind,
    Decision,
    Quota,
    QuotaCaller,
    QuotaDefaults,
    QuotaLimiter,
    Window,
    client_network,
    rate_limit_headers,
)
from cutout.settings import Settings

DEFAULTS = QuotaDefaults(
    anonymous=Quota(requests_per_minute=3, images_per_day=5),
    publishable=Quota(requests_per_minute=5, images_per_day=100),
    publishable_client=Quota(requests_per_minute=2, images_per_day=100),
    secret=Quota(requests_per_minute=4, images_per_day=100),
    warm_per_minute=1,
)
ANON = QuotaCaller(CallerKind.ANONYMOUS, "203.0.113.7")


def _limiter(uri: str = "memory://") -> QuotaLimiter:
    return QuotaLimiter(uri, DEFAULTS)


def _allowed(limiter: QuotaLimiter, caller: QuotaCaller, n: int, **kwargs: Any) -> int:
    return sum(limiter.check(caller, **kwargs).allowed for _ in range(n))


def test_anonymous_requests_per_minute_then_429_with_headers() -> None:
    limiter = _limiter()
    before = time.time()
    answers = [limiter.check(ANON) for _ in range(5)]
    assert [a.allowed for a in answers] == [True, True, True, False, False]
    assert [a.remaining for a in answers[:3]] == [2, 1, 0]
    refused = answers[3]
    assert (refused.limit, refused.window, refused.subject) == (
        3,
        Window.REQUESTS,
        "client 203.0.113.7",
    )
    assert 1 <= refused.retry_after_s <= 61
    assert before + 59 <= refused.reset <= time.time() + 61
    assert rate_limit_headers(refused) == {
        "X-RateLimit-Limit": "3",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(refused.reset),
        "Retry-After": str(refused.retry_after_s),
    }
    assert "Retry-After" not in rate_limit_headers(answers[0])


def test_raise_if_limited_carries_code_message_and_headers() -> None:
    limiter = _limiter()
    for _ in range(3):
        limiter.check(ANON).raise_if_limited()
    with pytest.raises(RateLimited) as caught:
        limiter.check(ANON).raise_if_limited()
    assert caught.value.code == ErrorCode.RATE_LIMITED
    assert "3 requests per minute for client 203.0.113.7" in caught.value.message
    assert caught.value.headers["X-RateLimit-Remaining"] == "0"
    assert int(caught.value.headers["Retry-After"]) >= 1


def test_a_refused_submission_spends_no_images() -> None:
    limiter = QuotaLimiter("memory://", DEFAULTS)
    other = QuotaCaller(CallerKind.ANONYMOUS, "198.51.100.1")
    assert limiter.check(other, images=3).allowed
    refused = limiter.check(other, images=3)  # 3 + 3 > 5 images per day
    assert not refused.allowed and refused.window == Window.IMAGES
    assert (refused.limit, refused.remaining) == (5, 2)
    assert limiter.check(other, images=2).allowed  # the refused 3 were not spent


def test_publishable_key_counts_per_client_and_per_key() -> None:
    limiter = _limiter()
    shop = [QuotaCaller(CallerKind.PUBLISHABLE, f"192.0.2.{i}", key_id="pk_shop") for i in range(4)]
    assert _allowed(limiter, shop[0], 5) == 2  # the scraper spends its own 2 ...
    refused = limiter.check(shop[0])
    assert refused.subject == "key pk_shop from 192.0.2.0"
    assert _allowed(limiter, shop[1], 2) == 2  # ... not the shop's 5
    assert _allowed(limiter, shop[2], 1) == 1
    key_wide = limiter.check(shop[3])  # 2 + 2 + 1 admitted: the key's 5 are spent
    assert not key_wide.allowed and key_wide.subject == "key pk_shop" and key_wide.limit == 5
    other_shop = QuotaCaller(CallerKind.PUBLISHABLE, "192.0.2.0", key_id="pk_other")
    assert limiter.check(other_shop).allowed


def test_secret_key_uses_its_record_quota_else_the_default() -> None:
    limiter = _limiter()
    default = QuotaCaller(CallerKind.SECRET, "10.0.0.1", key_id="sk_a")
    own = QuotaCaller(CallerKind.SECRET, "10.0.0.1", key_id="sk_b", quota=Quota(7, 10))
    assert _allowed(limiter, default, 10) == 4
    assert _allowed(limiter, own, 10) == 7
    other_address = QuotaCaller(CallerKind.SECRET, "10.9.9.9", key_id="sk_a")
    assert not limiter.check(other_address).allowed  # a secret key counts as one subject


def test_warm_has_its_own_small_limit() -> None:
    limiter = _limiter()
    assert limiter.check(ANON, warm=True).allowed
    refused = limiter.check(ANON, warm=True)
    assert not refused.allowed and refused.window == Window.WARM and refused.limit == 1
    assert limiter.check(QuotaCaller(CallerKind.ANONYMOUS, "203.0.113.8"), warm=True).allowed


def test_ipv6_clients_count_per_64() -> None:
    assert client_network("2001:db8:1:2::1") == client_network("2001:db8:1:2:ffff::9")
    assert client_network("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert client_network("2001:db8:1:3::1") != client_network("2001:db8:1:2::1")
    assert client_network("::ffff:192.0.2.1") == "192.0.2.1"
    limiter = _limiter()
    same = [QuotaCaller(CallerKind.ANONYMOUS, f"2001:db8::{i}") for i in range(1, 5)]
    assert [limiter.check(c).allowed for c in same] == [True, True, True, False]


def test_keyed_callers_need_a_key_id() -> None:
    with pytest.raises(ValueError, match="needs a key id"):
        _limiter().check(QuotaCaller(CallerKind.SECRET, "10.0.0.1"))


def test_an_unreachable_store_lets_requests_through_unmetered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings(quota_storage_uri=f"redis://127.0.0.1:{free_port()}/0")
    decision = QuotaLimiter.from_settings(settings).check(ANON, images=1)
    assert decision == Decision.unmetered()
    assert rate_limit_headers(decision) == {}
    assert "quota storage failed" in caplog.text


def test_settings_defaults_reach_the_limiter() -> None:
    settings = Settings(quota_anonymous_requests_per_minute=2, quota_warm_per_minute=9)
    defaults = QuotaDefaults.from_settings(settings)
    assert defaults.anonymous.requests_per_minute == 2
    assert defaults.warm_per_minute == 9
    assert defaults.secret.images_per_day == Settings().quota_secret_images_per_day
    limiter = QuotaLimiter.from_settings(settings)
    assert _allowed(limiter, ANON, 4) == 2


# ---- Redis: the shared store ingest instances use on GCP ----------------------------


def test_two_limiters_on_one_redis_enforce_one_quota(redis_url: str) -> None:
    first, second = _limiter(redis_url), _limiter(redis_url)
    answers = [(first if i % 2 else second).check(ANON) for i in range(6)]
    assert [a.allowed for a in answers] == [True, True, True, False, False, False]
    assert [a.remaining for a in answers[:3]] == [2, 1, 0]
    assert answers[3].retry_after_s >= 1 and answers[3].window == Window.REQUESTS
    shop = [QuotaCaller(CallerKind.PUBLISHABLE, f"192.0.2.{i}", key_id="pk") for i in range(3)]
    assert first.check(shop[0], images=60).allowed
    assert second.check(shop[1], images=40).allowed
    refused = first.check(shop[2], images=1)  # the key's 100 images are spent across both
    assert not refused.allowed and refused.window == Window.IMAGES
    assert refused.subject == "key pk" and refused.remaining == 0


def test_redis_counters_expire_with_their_window(redis_url: str) -> None:
    import redis

    limiter = _limiter(redis_url)
    limiter.check(ANON, images=1)
    client = redis.Redis.from_url(redis_url)
    ttls = {key.decode(): cast(int, client.ttl(key)) for key in client.scan_iter("*")}
    assert len(ttls) == 2, ttls
    by_window = {("images" if "/images/" in k else "requests"): t for k, t in ttls.items()}
    assert 0 < by_window["requests"] <= 60
    assert 60 < by_window["images"] <= 86_400
