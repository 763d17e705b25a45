"""API keys: who is calling, and what that caller may do.

A key travels as ``Authorization: Bearer <token>`` or ``X-API-Key: <token>``; the token
names its key id (cutout/keys.py), so :class:`KeyRing` fetches that one record from the
:class:`~cutout.ports.KeyStore` and compares digests in constant time. Records are
cached per instance for ``key_cache_s`` seconds: a revoked key stops working on every
instance within that many seconds, and a request costs no store read while its record
is fresh. Only the key's id is stored in jobs.

Anonymous callers (when allowed: on by default locally, off in the Terraform deployment)
may use ``standard`` and ``batch``; ``high`` is for keys whose tier is ``high``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from werkzeug.datastructures import Headers

from cutout import refs
from cutout.codes import ErrorCode
from cutout.errors import CutoutError, InvalidInput, NotFound
from cutout.job import Priority
from cutout.keys import KeyKind, KeyRecord, Quotas, key_id_of, key_pepper, token_matches
from cutout.ports import KeyStore
from cutout.settings import Settings

ANONYMOUS = "anonymous"
#: Most records one instance caches; past it the cache starts afresh (random ids sent
#: by a scanner must not grow memory without bound).
CACHE_MAX = 10_000


class Unauthorized(CutoutError):
    default_code = ErrorCode.INVALID_API_KEY


class Forbidden(CutoutError):
    default_code = ErrorCode.FORBIDDEN


@dataclass(frozen=True)
class Caller:
    """Who is calling. ``kind`` is ``None`` for an anonymous caller, whose ``key_id`` is
    :data:`ANONYMOUS` (the edge adds the client address to make it a tenant).
    ``quotas`` fields left ``None`` mean the deployment default; ``origins`` are the
    exact browser origins a publishable key is bound to."""

    key_id: str
    tier: Priority
    kind: KeyKind | None = None
    quotas: Quotas = field(default_factory=Quotas)
    origins: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()  # gs:// prefixes its backfills may read (secret keys)
    destinations: tuple[str, ...] = ()  # and write

    @property
    def anonymous(self) -> bool:
        return self.kind is None

    @classmethod
    def of(cls, record: KeyRecord) -> Caller:
        return cls(
            record.id,
            record.tier,
            record.kind,
            record.quotas,
            record.allowed_origins,
            record.allowed_sources,
            record.allowed_destinations,
        )

    def check_priority(self, priority: Priority) -> None:
        if priority.rank < self.tier.rank:
            raise Forbidden(
                f"priority {priority.value!r} needs an API key allowed to use it; this caller "
                f"may use {self.tier.value!r} or lower",
                code=ErrorCode.PRIORITY_NOT_ALLOWED,
            )

    def check_source(self, uri: str) -> None:
        """A gs:// object this key's backfill may have the service read (cutout/refs.py:
        prefixes are folders, ``..`` is refused); else 403 ``source_not_allowed``."""
        if not _granted(uri, self.sources):
            raise Forbidden(
                f"{uri} is outside this key's allowed sources ({_listed(self.sources)})",
                code=ErrorCode.SOURCE_NOT_ALLOWED,
            )

    def check_destination(self, prefix: str) -> None:
        """Likewise for where the service writes results: 403 ``destination_not_allowed``."""
        if not _granted(prefix if prefix.endswith("/") else prefix + "/", self.destinations):
            raise Forbidden(
                f"{prefix} is outside this key's allowed destinations "
                f"({_listed(self.destinations)})",
                code=ErrorCode.DESTINATION_NOT_ALLOWED,
            )


def _granted(uri: str, prefixes: tuple[str, ...]) -> bool:
    """Whether ``uri`` is under a granted prefix; a malformed one (``..``) never is."""
    try:
        return refs.within(uri, prefixes)
    except InvalidInput:
        return False


def _listed(prefixes: tuple[str, ...]) -> str:
    return ", ".join(prefixes) or "none granted: cutout keys create --source/--dest"


class KeyRing:
    """Resolves presented tokens to callers through the key store, with a small cache
    whose entries (records, and ids the store does not know) live ``cache_s`` seconds
    by ``clock``. Thread-safe: ingest serves requests on several threads."""

    def __init__(
        self,
        store: KeyStore,
        pepper: bytes,
        *,
        allow_anonymous: bool,
        cache_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._pepper = pepper
        self._allow_anonymous = allow_anonymous
        self._cache_s = cache_s
        self._clock = clock
        self._cache: dict[str, tuple[float, KeyRecord | None]] = {}
        self._lock = threading.Lock()

    @classmethod
    def for_settings(cls, settings: Settings, store: KeyStore) -> KeyRing:
        return cls(
            store,
            key_pepper(settings),
            allow_anonymous=settings.allow_anonymous,
            cache_s=settings.key_cache_s,
        )

    def identify(self, headers: Headers) -> Caller:
        token = headers.get("X-API-Key") or _bearer(headers.get("Authorization", ""))
        if not token:
            if not self._allow_anonymous:
                raise Unauthorized("an API key is required", code=ErrorCode.MISSING_API_KEY)
            return Caller(ANONYMOUS, Priority.STANDARD)
        key_id = key_id_of(token)
        record = self._record(key_id) if key_id else None
        if record is None or not token_matches(record, self._pepper, token):
            raise Unauthorized("the API key is not valid")
        if record.revoked:
            raise Unauthorized(
                f"the API key {record.id} was revoked", code=ErrorCode.REVOKED_API_KEY
            )
        return Caller.of(record)

    def _record(self, key_id: str) -> KeyRecord | None:
        now = self._clock()
        with self._lock:
            cached = self._cache.get(key_id)
        if cached is not None and now - cached[0] < self._cache_s:
            return cached[1]
        try:
            record: KeyRecord | None = self._store.get(key_id)
        except NotFound:
            record = None
        with self._lock:
            if len(self._cache) >= CACHE_MAX:
                self._cache.clear()
            self._cache[key_id] = (now, record)
        return record


def _bearer(value: str) -> str:
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class SchedulerAuth:
    """Who may call ``POST /v1/scale``. On GCP, ingest is public (the web shop calls it),
    so Cloud Scheduler's OIDC token is verified here: Google-signed, for our audience,
    from the configured service account. Without ``scale_caller`` (local), anyone may:
    the route only starts the workers the backlog already justifies."""

    def __init__(self, caller: str, *, audience: str) -> None:
        self._caller = caller
        self._audience = audience

    def check(self, authorization: str) -> None:
        if not self._caller:
            return
        token = _bearer(authorization)
        if not token:
            raise Unauthorized("a Google-signed OIDC token is required", code="missing_token")
        claims = verify_google_token(token, self._audience)
        if claims.get("email") != self._caller or not claims.get("email_verified"):
            raise Forbidden(f"only {self._caller} may trigger scaling", code="forbidden_caller")


def verify_google_token(token: str, audience: str) -> Mapping[str, object]:
    """Check an ID token's signature against Google's published keys, its expiry and
    audience; returns its claims or raises :class:`Unauthorized`."""
    from google.auth.transport import requests as google_requests
    from google.oauth2 import id_token

    try:
        claims: Mapping[str, object] = id_token.verify_oauth2_token(
            token, google_requests.Request(), audience=audience
        )
    except ValueError as exc:
        raise Unauthorized(f"the OIDC token is not valid: {exc}", code="invalid_token") from exc
    return claims
