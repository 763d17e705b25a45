"""The page ingest serves, and the publishable key it sends.

On GCP anonymous access is off, so the page needs a key. It is a publishable token in
``CUTOUT_PAGE_KEY`` (Terraform generates it; a publishable token is public by nature:
it is in every copy of the page), and ingest itself makes sure a record for it exists,
bound to ingest's own origin (``public_url``). Ingest writes it because it alone holds
the pepper the record's digest needs, and Terraform cannot compute an HMAC; the record
is then an ordinary key: listed, revocable, with the publishable quotas. Without a page
key (locally) the page calls anonymously, as before.
"""

from __future__ import annotations

import html
import logging
from importlib import resources

from cutout.errors import ConfigurationError, Conflict, NotFound
from cutout.keys import KeyKind, KeyRecord, key_id_of, token_digest, token_matches
from cutout.ports import KeyStore

log = logging.getLogger(__name__)

PAGE_KEY_LABEL = "the page ingest serves"
_SLOT = b'<meta name="cutout-key" content="">'


def page_bytes(page_key: str) -> bytes:
    """index.html with the page key in its ``cutout-key`` meta tag (empty: anonymous)."""
    page = resources.files("ingest").joinpath("static/index.html").read_bytes()
    filled = f'<meta name="cutout-key" content="{html.escape(page_key)}">'.encode()
    return page.replace(_SLOT, filled)


def ensure_page_key(store: KeyStore, pepper: bytes, token: str, origin: str) -> None:
    """Create the page key's record if it is missing; refuse to start with a page key
    that is not publishable, not the stored one, or not bound to ``origin``."""
    key_id = key_id_of(token)
    if key_id is None or not token.startswith(KeyKind.PUBLISHABLE.prefix):
        raise ConfigurationError("CUTOUT_PAGE_KEY must be a publishable token (pk_live_...)")
    try:
        record = store.get(key_id)
    except NotFound:
        record = _create(store, pepper, key_id, token, origin)
    if not token_matches(record, pepper, token):
        raise ConfigurationError(f"CUTOUT_PAGE_KEY does not match the stored key {key_id}")
    if origin not in record.allowed_origins:
        raise ConfigurationError(
            f"the page key {key_id} is bound to {record.allowed_origins}, not to {origin}: "
            "rotate it (infra: bump page_key_version)"
        )
    if record.revoked:
        log.warning("the page key %s is revoked: the page cannot submit jobs", key_id)


def _create(store: KeyStore, pepper: bytes, key_id: str, token: str, origin: str) -> KeyRecord:
    record = KeyRecord(
        id=key_id,
        kind=KeyKind.PUBLISHABLE,
        allowed_origins=(origin,),
        label=PAGE_KEY_LABEL,
        digest=token_digest(pepper, token),
    )
    try:
        return store.create(record)
    except Conflict:  # another instance created it first
        return store.get(key_id)
