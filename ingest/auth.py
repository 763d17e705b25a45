"""API keys: who is calling, and the most urgent priority they may ask for.

Keys come from ``CUTOUT_API_KEYS`` as ``id:secret:tier`` entries. The secret travels in
``Authorization: Bearer <secret>`` (or ``X-API-Key``); only the key's id is stored in jobs.
Anonymous callers (when allowed) may use ``standard`` and ``batch``; ``high`` is for keys
whose tier is ``high`` — the paying customers whose jobs overtake everyone else's.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from werkzeug.datastructures import Headers

from cutout.errors import ConfigurationError, CutoutError
from cutout.job import Priority

ANONYMOUS = "anonymous"


class Unauthorized(CutoutError):
    default_code = "invalid_api_key"


class Forbidden(CutoutError):
    default_code = "forbidden"


@dataclass(frozen=True)
class Caller:
    key_id: str
    max_priority: Priority

    def check_priority(self, priority: Priority) -> None:
        if priority.rank < self.max_priority.rank:
            raise Forbidden(
                f"priority {priority.value!r} needs an API key allowed to use it; this caller "
                f"may use {self.max_priority.value!r} or lower",
                code="priority_not_allowed",
            )


class KeyRing:
    def __init__(self, spec: str, *, allow_anonymous: bool) -> None:
        self._by_secret: dict[str, Caller] = {}
        self._allow_anonymous = allow_anonymous
        for entry in filter(None, (e.strip() for e in spec.split(","))):
            try:
                key_id, secret, tier = entry.split(":")
                caller = Caller(key_id, Priority(tier))
            except ValueError as exc:
                raise ConfigurationError(
                    f"CUTOUT_API_KEYS entry for {entry.split(':')[0]!r} is not 'id:secret:tier'"
                ) from exc
            self._by_secret[secret] = caller

    def identify(self, headers: Headers) -> Caller:
        secret = headers.get("X-API-Key") or _bearer(headers.get("Authorization", ""))
        if not secret:
            if not self._allow_anonymous:
                raise Unauthorized("an API key is required", code="missing_api_key")
            return Caller(ANONYMOUS, Priority.STANDARD)
        for known, caller in self._by_secret.items():
            if hmac.compare_digest(known.encode(), secret.encode()):
                return caller
        raise Unauthorized("the API key is not valid")


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
