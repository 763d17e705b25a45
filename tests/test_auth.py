"""KeyRing (ingest/auth.py): presented tokens resolved through a real SQLite key store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from werkzeug.datastructures import Headers

import cutout.keys
from cutout.job import Priority
from cutout.keys import KeyKind, Quotas
from cutout.local import SqliteKeyStore
from ingest.auth import ANONYMOUS, Caller, Forbidden, KeyRing, Unauthorized
from tests.support.keys import add_key

PEPPER = b"auth-pepper"
TTL_S = 5.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> SqliteKeyStore:
    return SqliteKeyStore(tmp_path / "cutout.db")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ring(store: SqliteKeyStore, clock: Clock) -> KeyRing:
    return KeyRing(store, PEPPER, allow_anonymous=True, cache_s=TTL_S, clock=clock)


def add(store: SqliteKeyStore, kind: KeyKind = KeyKind.SECRET, **fields: Any) -> str:
    return add_key(store, PEPPER, kind, **fields)


def bearer(token: str) -> Headers:
    return Headers({"Authorization": f"Bearer {token}"})


def refused(ring: KeyRing, headers: Headers) -> str:
    with pytest.raises(Unauthorized) as caught:
        ring.identify(headers)
    return caught.value.code


def test_a_secret_key_resolves_to_its_record_by_either_header(
    ring: KeyRing, store: SqliteKeyStore
) -> None:
    quotas = Quotas(requests_per_minute=100, images_per_day=5000)
    token = add(store, tier=Priority.HIGH, quotas=quotas, label="backfill")
    for headers in (bearer(token), Headers({"X-API-Key": token})):
        caller = ring.identify(headers)
        assert caller.kind is KeyKind.SECRET and not caller.anonymous
        assert caller.key_id == token.split("_")[2]
        assert (caller.tier, caller.quotas, caller.origins) == (Priority.HIGH, quotas, ())
        caller.check_priority(Priority.HIGH)


def test_a_publishable_key_carries_its_origins_and_may_not_use_high(
    ring: KeyRing, store: SqliteKeyStore
) -> None:
    origins = ("https://shop.example", "http://localhost:3000")
    token = add(store, KeyKind.PUBLISHABLE, allowed_origins=origins)
    caller = ring.identify(bearer(token))
    assert caller.kind is KeyKind.PUBLISHABLE
    assert caller.origins == origins and caller.tier is Priority.STANDARD
    caller.check_priority(Priority.BATCH)
    with pytest.raises(Forbidden) as caught:
        caller.check_priority(Priority.HIGH)
    assert caught.value.code == "priority_not_allowed"


def test_anonymous_callers_are_standard_and_can_be_switched_off(store: SqliteKeyStore) -> None:
    open_ring = KeyRing(store, PEPPER, allow_anonymous=True, cache_s=TTL_S)
    caller = open_ring.identify(Headers())
    assert caller == Caller(ANONYMOUS, Priority.STANDARD) and caller.anonymous
    closed = KeyRing(store, PEPPER, allow_anonymous=False, cache_s=TTL_S)
    assert refused(closed, Headers()) == "missing_api_key"


@pytest.mark.parametrize(
    "spoil",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # tampered secret
        lambda t: "pk_live_" + t.removeprefix("sk_live_"),  # tampered kind
        lambda t: "sk_live_0123456789ab_" + t.rsplit("_", 1)[-1],  # unknown id
        lambda t: "not-one-of-ours",  # malformed
        lambda t: t.split("_")[2],  # the id alone
    ],
)
def test_wrong_tampered_unknown_and_malformed_tokens_are_refused(
    ring: KeyRing, store: SqliteKeyStore, spoil: Callable[[str], str]
) -> None:
    token = add(store)
    assert refused(ring, bearer(spoil(token))) == "invalid_api_key"
    assert refused(ring, Headers({"X-API-Key": spoil(token)})) == "invalid_api_key"
    assert ring.identify(bearer(token)).kind is KeyKind.SECRET


def test_a_key_under_another_pepper_is_refused(store: SqliteKeyStore) -> None:
    token = add(store)
    other = KeyRing(store, b"another-pepper", allow_anonymous=True, cache_s=TTL_S)
    assert refused(other, bearer(token)) == "invalid_api_key"


def test_digests_are_compared_in_constant_time(
    ring: KeyRing, store: SqliteKeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, str]] = []
    real = cutout.keys.hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(cutout.keys.hmac, "compare_digest", spy)
    token = add(store)
    ring.identify(bearer(token))
    refused(ring, bearer(token[:-1] + ("x" if token[-1] != "x" else "y")))
    assert len(calls) == 2
    assert all(len(a) == len(b) == 64 for a, b in calls)


def test_revocation_reaches_every_instance_within_the_cache_ttl(
    store: SqliteKeyStore, clock: Clock
) -> None:
    one = KeyRing(store, PEPPER, allow_anonymous=True, cache_s=TTL_S, clock=clock)
    two = KeyRing(store, PEPPER, allow_anonymous=True, cache_s=TTL_S, clock=clock)
    token = add(store)
    assert one.identify(bearer(token)).kind is two.identify(bearer(token)).kind
    store.revoke(token.split("_")[2])
    clock.now += TTL_S - 0.1  # both still trust their cached record: the stated delay
    assert one.identify(bearer(token)).kind is KeyKind.SECRET
    clock.now += 0.2
    assert refused(one, bearer(token)) == "revoked_api_key"
    assert refused(two, bearer(token)) == "revoked_api_key"


def test_a_fresh_ring_refuses_a_revoked_key_at_once(ring: KeyRing, store: SqliteKeyStore) -> None:
    token = add(store)
    store.revoke(token.split("_")[2])
    assert refused(ring, bearer(token)) == "revoked_api_key"


def test_cached_records_spare_the_store(
    store: SqliteKeyStore, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    ring = KeyRing(store, PEPPER, allow_anonymous=True, cache_s=TTL_S, clock=clock)
    token = add(store)
    reads: list[str] = []
    real_get = store.get
    monkeypatch.setattr(store, "get", lambda key_id: reads.append(key_id) or real_get(key_id))
    for _ in range(5):
        ring.identify(bearer(token))
    assert len(reads) == 1
    clock.now += TTL_S
    ring.identify(bearer(token))
    assert len(reads) == 2
