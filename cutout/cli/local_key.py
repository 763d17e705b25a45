"""The local stack's own secret key: minted by ``cutout up``, used by the CLI.

``cutout up`` makes sure ``<data_dir>/cli-key`` (mode 0600) holds a working secret key
(minted on first start, and again if its record is gone or revoked, or the pepper
changed), so ``cutout submit`` and ``cutout status`` against the local stack need no
set-up and a local backfill is never throttled by the anonymous quota. The key is
``secret``, tier ``high``, labelled ``local CLI (cutout up)``, with the quotas in
:data:`LOCAL_KEY_QUOTAS`: 6000 requests per minute (100 per second, more than one
ingest on a laptop serves) and 1 000 000 images per day. The CLI sends it only to a
loopback address, never to a remote ``--url``.
"""

from __future__ import annotations

import os
import secrets
from urllib.parse import urlsplit

from cutout.errors import NotFound
from cutout.job import Priority
from cutout.keys import KeyKind, Quotas, issue_key, key_id_of, key_pepper, token_matches
from cutout.ports import KeyStore
from cutout.settings import Settings

LOCAL_KEY_FILE = "cli-key"
LOCAL_KEY_QUOTAS = Quotas(requests_per_minute=6000, images_per_day=1_000_000)
LOCAL_KEY_LABEL = "local CLI (cutout up)"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def ensure_local_key(settings: Settings, store: KeyStore) -> str:
    """The token in the data directory, minting (and storing) a new key unless the one
    there still works. Returns the key id."""
    pepper = key_pepper(settings)
    token = _read(settings)
    key_id = key_id_of(token) if token else None
    if token and key_id:
        try:
            record = store.get(key_id)
            if not record.revoked and token_matches(record, pepper, token):
                return key_id
        except NotFound:
            pass
    issued = issue_key(
        pepper,
        kind=KeyKind.SECRET,
        tier=Priority.HIGH,
        quotas=LOCAL_KEY_QUOTAS,
        label=LOCAL_KEY_LABEL,
    )
    store.create(issued.record)
    _write(settings, issued.token)
    return issued.record.id


def local_key(settings: Settings, base_url: str) -> str | None:
    """The local stack's token when ``base_url`` is a loopback address and ``cutout up``
    has minted one; ``None`` otherwise."""
    if urlsplit(base_url).hostname not in _LOOPBACK:
        return None
    return _read(settings)


def _read(settings: Settings) -> str | None:
    try:
        return (settings.data_dir / LOCAL_KEY_FILE).read_text().strip() or None
    except FileNotFoundError:
        return None


def _write(settings: Settings, token: str) -> None:
    """Written aside with mode 0600 and renamed into place: never readable by others,
    never half-written."""
    path = settings.data_dir / LOCAL_KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_name(f".{LOCAL_KEY_FILE}.{secrets.token_hex(4)}")
    with os.fdopen(os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as fh:
        fh.write(token + "\n")
    os.replace(aside, path)
