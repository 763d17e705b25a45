"""KeyStore guarantees, for every adapter family."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from cutout.backends import Backends
from cutout.errors import Conflict, InvalidInput, NotFound
from cutout.job import Priority, utcnow
from cutout.keys import KeyKind, KeyRecord, Quotas, issue_key
from cutout.ports import KeyStore

PEPPER = b"contract-pepper"
MakeKey = Callable[..., KeyRecord]


@pytest.fixture
def keys(backends: Backends) -> KeyStore:
    return backends.keys


@pytest.fixture
def make_key() -> MakeKey:
    """A fresh record (times in whole milliseconds, which every store keeps exactly)."""

    def _make(**fields: Any) -> KeyRecord:
        options: dict[str, Any] = {"kind": KeyKind.SECRET, **fields}
        record = issue_key(PEPPER, **options).record
        moment = record.created_at
        return record.model_copy(
            update={"created_at": moment.replace(microsecond=moment.microsecond // 1000 * 1000)}
        )

    return _make


def test_create_and_get_round_trip_every_field(keys: KeyStore, make_key: MakeKey) -> None:
    record = make_key(
        kind=KeyKind.PUBLISHABLE,
        tier=Priority.BATCH,
        quotas=Quotas(requests_per_minute=30, images_per_day=500),
        allowed_origins=("https://shop.example", "http://localhost:3000"),
        label="the shop's product page",
    )
    assert keys.create(record) == record
    assert keys.get(record.id) == record


def test_create_conflicts_on_a_taken_id(keys: KeyStore, make_key: MakeKey) -> None:
    first = keys.create(make_key(label="first"))
    with pytest.raises(Conflict):
        keys.create(make_key().model_copy(update={"id": first.id, "label": "second"}))
    assert keys.get(first.id).label == "first"


def test_get_of_an_unknown_or_impossible_id(keys: KeyStore) -> None:
    with pytest.raises(NotFound):
        keys.get("0123456789ab")
    for bad in ("", "a/b", ".."):
        with pytest.raises((NotFound, InvalidInput)):
            keys.get(bad)


def test_revoke_is_visible_to_a_second_store_at_once(
    open_backends: Callable[..., Backends], make_key: MakeKey
) -> None:
    one, other = open_backends().keys, open_backends().keys
    record = one.create(make_key())
    assert not other.get(record.id).revoked
    revoked = one.revoke(record.id)
    assert revoked.revoked_at is not None
    assert other.get(record.id).revoked_at == revoked.revoked_at


def test_revoke_keeps_the_first_time_and_never_unrevokes(keys: KeyStore, make_key: MakeKey) -> None:
    record = keys.create(make_key())
    when = record.created_at + timedelta(seconds=5)
    first = keys.revoke(record.id, at=when)
    again = keys.revoke(record.id, at=when + timedelta(hours=1))
    assert first.revoked_at == again.revoked_at == when
    assert keys.get(record.id).revoked_at == when
    assert keys.get(record.id).digest == record.digest


def test_revoke_of_an_unknown_id(keys: KeyStore) -> None:
    with pytest.raises(NotFound):
        keys.revoke("0123456789ab")


def test_list_is_oldest_first_and_can_leave_out_revoked(keys: KeyStore, make_key: MakeKey) -> None:
    start = utcnow().replace(microsecond=0)
    made = [
        keys.create(make_key(label=str(i)).model_copy(update={"created_at": start + timedelta(i)}))
        for i in (2, 0, 1)
    ]
    keys.revoke(made[2].id)
    assert [r.label for r in keys.list_keys()] == ["0", "1", "2"]
    assert [r.label for r in keys.list_keys(include_revoked=False)] == ["0", "2"]
    assert keys.list_keys()[1].revoked
