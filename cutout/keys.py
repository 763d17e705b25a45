"""The key contract: what an API key record is, how its token looks, and how a token is
checked against it.

A key is a tenant. Its token is ``<prefix><id>_<secret>``: the prefix names the kind
(``sk_live_`` secret, ``pk_live_`` publishable) so a leaked token is recognisable, the id
(12 hex digits) lets the store look the record up without scanning, and the secret is
``secrets.token_urlsafe(32)`` (256 bits). Stores keep only ``HMAC-SHA-256(pepper,
token)``: a fast keyed hash, not a password hash, because a token has 256 bits of entropy
(nothing to brute-force) and every request checks one, so a password hash would spend the
latency budget. The pepper is server-side (see :func:`key_pepper`), so a copy of the
store alone cannot confirm a guessed token. Digests are compared with
:func:`hmac.compare_digest`. Publishable tokens are public by nature (they sit in a web
page) but are stored the same way, so every key is handled alike.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from cutout import refs
from cutout.codes import ErrorCode
from cutout.data_dir_secrets import data_dir_secret
from cutout.errors import ConfigurationError, InvalidInput
from cutout.job import Priority, utcnow
from cutout.settings import Backend, Settings

_ID = re.compile(r"^[0-9a-f]{12}$")
_ORIGIN = re.compile(
    r"^(?P<scheme>https?)://(?P<host>[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\])"
    r"(?::(?P<port>[0-9]{1,5}))?$"
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


class KeyKind(StrEnum):
    """``publishable``: for browsers, bound to allowed origins, may submit, read its own
    jobs and warm. ``secret``: for servers and operators, may also list and backfill, and
    use ``high`` if its tier allows."""

    PUBLISHABLE = "publishable"
    SECRET = "secret"

    @property
    def prefix(self) -> str:
        return {KeyKind.PUBLISHABLE: "pk_live_", KeyKind.SECRET: "sk_live_"}[self]


class Quotas(BaseModel):
    """Per-key limits; ``None`` means the deployment's default for the key's kind."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests_per_minute: int | None = Field(None, ge=1)
    images_per_day: int | None = Field(None, ge=1)


class KeyRecord(BaseModel):
    """One key as the store keeps it. ``digest`` is the HMAC of the token (hex); the
    token itself is never stored. ``revoked_at`` set means the key no longer works."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=_ID.pattern)
    kind: KeyKind
    tier: Priority = Priority.STANDARD
    quotas: Quotas = Quotas()
    allowed_origins: tuple[str, ...] = ()
    #: gs:// prefixes a secret key's backfills may read and write (cutout/refs.py): the
    #: service does so as itself, so a key reaches only what it was granted (empty: none).
    allowed_sources: tuple[str, ...] = ()
    allowed_destinations: tuple[str, ...] = ()
    label: str = Field("", max_length=200)
    digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(check_origin(o) for o in origins)

    @field_validator("allowed_sources", "allowed_destinations")
    @classmethod
    def _prefixes(cls, prefixes: tuple[str, ...]) -> tuple[str, ...]:
        try:
            return tuple(refs.check_prefix(p) for p in prefixes)
        except InvalidInput as exc:
            raise ValueError(exc.message) from exc

    @model_validator(mode="after")
    def _kind_rules(self) -> KeyRecord:
        if self.kind is KeyKind.PUBLISHABLE:
            if not self.allowed_origins:
                raise ValueError("a publishable key needs at least one allowed origin")
            if self.tier is Priority.HIGH:
                raise ValueError("only secret keys may use the high tier")
        elif self.allowed_origins:
            raise ValueError("a secret key takes no origins: it must never be in a web page")
        if self.kind is not KeyKind.SECRET and (self.allowed_sources or self.allowed_destinations):
            raise ValueError("only secret keys may be granted gs:// sources and destinations")
        return self

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def public(self) -> dict[str, object]:
        """The record as JSON without its digest: what listings and the CLI show."""
        return self.model_dump(mode="json", exclude={"digest"})


@dataclass(frozen=True)
class IssuedKey:
    """A new key: its token (shown once, never stored) and the record to store."""

    token: str
    record: KeyRecord


def check_origin(origin: str) -> str:
    """An exact browser origin, ``scheme://host[:port]`` as a browser sends it in
    ``Origin``: http or https, lower case, no path, no default port; else InvalidInput."""
    match = _ORIGIN.match(origin)
    port = int(match["port"]) if match and match["port"] else None
    if match is None or port == _DEFAULT_PORTS[match["scheme"]] or not 0 < (port or 1) < 65536:
        raise InvalidInput(
            f"allowed origin {origin!r} is not an exact origin like 'https://shop.example' "
            "or 'http://localhost:3000' (lower case, no path, no default port)",
            code=ErrorCode.INVALID_ORIGIN,
        )
    return origin


def issue_key(
    pepper: bytes,
    *,
    kind: KeyKind,
    tier: Priority = Priority.STANDARD,
    quotas: Quotas | None = None,
    allowed_origins: tuple[str, ...] = (),
    label: str = "",
    allowed_sources: tuple[str, ...] = (),
    allowed_destinations: tuple[str, ...] = (),
) -> IssuedKey:
    """Mint a token and its record (not yet stored). Bad fields raise InvalidInput."""
    key_id = secrets.token_hex(6)
    token = f"{kind.prefix}{key_id}_{secrets.token_urlsafe(32)}"
    try:
        record = KeyRecord(
            id=key_id,
            kind=kind,
            tier=tier,
            quotas=quotas or Quotas(),
            allowed_origins=allowed_origins,
            allowed_sources=allowed_sources,
            allowed_destinations=allowed_destinations,
            label=label,
            digest=token_digest(pepper, token),
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'key'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise InvalidInput(problems, code=ErrorCode.INVALID_KEY_RECORD) from exc
    return IssuedKey(token, record)


def key_id_of(token: str) -> str | None:
    """The key id inside a well-formed token, or ``None`` if it is not one of ours."""
    for kind in KeyKind:
        if token.startswith(kind.prefix):
            key_id, sep, secret = token.removeprefix(kind.prefix).partition("_")
            if sep and secret and _ID.match(key_id):
                return key_id
    return None


def token_digest(pepper: bytes, token: str) -> str:
    return hmac.new(pepper, token.encode(), hashlib.sha256).hexdigest()


def token_matches(record: KeyRecord, pepper: bytes, token: str) -> bool:
    """Whether ``token`` is the one ``record`` was issued for, compared in constant time.
    The digest covers the whole token, prefix included, so a token whose kind prefix was
    altered does not match."""
    return hmac.compare_digest(record.digest, token_digest(pepper, token))


def key_pepper(settings: Settings) -> bytes:
    """The HMAC key for token digests: ``CUTOUT_KEY_PEPPER``, or (locally, and on the
    emulators) one kept in the data directory so every local process agrees on it.
    Production GCP must set it (Terraform passes it from Secret Manager): instances share
    no data directory, and a pepper made per instance would reject every key."""
    if settings.key_pepper:
        return settings.key_pepper.encode()
    if settings.backend is Backend.GCP and not _firestore_emulated():
        raise ConfigurationError(
            "CUTOUT_KEY_PEPPER must be set on GCP (Terraform passes it from Secret Manager)"
        )
    return data_dir_secret(settings, "key-pepper").encode()


def _firestore_emulated() -> bool:
    from cutout.gcp.clients import EmulatorHosts

    return EmulatorHosts.from_env().firestore is not None
