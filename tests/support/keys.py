"""Keys for tests: minted with the real code and stored in a real key store."""

from __future__ import annotations

from typing import Any

from cutout.keys import KeyKind, issue_key
from cutout.ports import KeyStore


def add_key(store: KeyStore, pepper: bytes, kind: KeyKind = KeyKind.SECRET, **fields: Any) -> str:
    """Store a new key of ``kind`` (fields as :func:`cutout.keys.issue_key` takes them);
    returns its token."""
    issued = issue_key(pepper, kind=kind, **fields)
    store.create(issued.record)
    return issued.token
