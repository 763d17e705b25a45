"""CORS at the edge: which browser origins may call ingest, and the headers that say so.

Origins are exact (``scheme://host[:port]``, cutout/keys.py). An origin is *known* when
it is one of ours — the request's own origin, ``public_url``'s, or one in
``CUTOUT_CORS_ORIGINS`` (the deployment-wide list) — or is bound to an active
publishable key. A preflight cannot carry the key (browsers send no custom headers on
it), so it is granted to any known origin; the actual request is then checked against
the key it presents (:meth:`Cors.check`). That is safe because the preflight only lets
the browser send the request: the key-origin binding is enforced on the request itself.
The publishable origins are read with one ``list_keys`` at most every ``key_cache_s``
seconds per instance, and only when an origin is not already one of ours or the
presented key's, so a flood of foreign origins costs no more store reads.

Rules, all here: a publishable key is accepted only from its own origins (a missing
``Origin`` too is refused: browsers always send it on cross-origin requests and on
POSTs); a secret key is refused from any browser origin (a secret must never sit in a
web page); anonymous callers (the local demo) are accepted only from our own origins;
any unknown origin is refused before anything runs. Refusals are 403
``origin_not_allowed`` / ``secret_key_in_browser`` and carry no grant. There is no
credentials mode: keys travel in headers, never cookies, so
``Access-Control-Allow-Credentials`` is never sent. Every answer carries ``Vary: Origin``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from werkzeug.wrappers import Request, Response

from cutout.codes import ErrorCode
from cutout.errors import ConfigurationError, InvalidInput
from cutout.keys import KeyKind, check_origin
from ingest.auth import Caller, Forbidden

ALLOW_METHODS = "GET, POST, PUT"
ALLOW_HEADERS = "Content-Type, Authorization, X-Api-Key, Idempotency-Key"
EXPOSE_HEADERS = (
    "Location, Retry-After, Idempotent-Replayed, "
    "X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset"
)
PREFLIGHT_MAX_AGE_S = 600
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


class OriginNotAllowed(Forbidden):
    default_code = ErrorCode.ORIGIN_NOT_ALLOWED


def origin_of(url: str) -> str:
    """The exact origin of an absolute URL (``public_url``): scheme and authority."""
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower()
    authority = rest.split("/", 1)[0].lower().removesuffix(_DEFAULT_PORTS.get(scheme, ""))
    return f"{scheme}://{authority}"


def deployment_origins(public_url: str, cors_origins: str) -> frozenset[str]:
    """Ours: ``public_url``'s origin and ``CUTOUT_CORS_ORIGINS`` (comma-separated)."""
    listed = [o.strip() for o in cors_origins.split(",") if o.strip()]
    try:
        return frozenset([origin_of(public_url), *(check_origin(o) for o in listed)])
    except InvalidInput as exc:
        raise ConfigurationError(f"CUTOUT_CORS_ORIGINS: {exc.message}") from exc


class KnownOrigins:
    """The origins of active publishable keys, re-read at most every ``ttl_s`` seconds
    (a new or revoked key's origin takes effect within that, like the key itself)."""

    def __init__(
        self,
        load: Callable[[], Iterable[str]],
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl_s = ttl_s
        self._clock = clock
        self._origins: frozenset[str] = frozenset()
        self._loaded_at: float | None = None
        self._lock = threading.Lock()

    def __contains__(self, origin: object) -> bool:
        with self._lock:
            now = self._clock()
            if self._loaded_at is None or now - self._loaded_at >= self._ttl_s:
                self._origins = frozenset(self._load())
                self._loaded_at = now
            return origin in self._origins


class Cors:
    def __init__(self, ours: frozenset[str], publishable: KnownOrigins) -> None:
        self._ours = ours
        self._publishable = publishable

    def is_preflight(self, request: Request) -> bool:
        return request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers

    def preflight(self, request: Request) -> Response:
        """204 with the grant for a known origin; 403 ``origin_not_allowed`` otherwise."""
        origin = request.headers.get("Origin", "")
        if not self._known(request, origin):
            raise OriginNotAllowed(f"origin {origin!r} may not call this API")
        response = Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
        response.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
        response.headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE_S)
        return response

    def check(self, request: Request, caller: Caller | None) -> None:
        """Refuse the request before anything runs if its origin may not act as
        ``caller`` (``None``: a route that identifies nobody)."""
        origin = request.headers.get("Origin")
        if caller is not None and caller.kind is KeyKind.PUBLISHABLE:
            if origin not in caller.origins:
                raise OriginNotAllowed(
                    f"this publishable key works only from {', '.join(caller.origins)}, "
                    f"not from {origin or 'a request without an Origin'}"
                )
            return
        if origin is None:
            return
        if caller is not None and caller.kind is KeyKind.SECRET:
            raise OriginNotAllowed(
                "a secret key was sent from a web page; it must never sit in one: "
                "use a publishable key bound to this origin",
                code=ErrorCode.SECRET_KEY_IN_BROWSER,
            )
        if caller is not None and not self._ours_or_own(request, origin):
            raise OriginNotAllowed(
                f"anonymous calls are accepted only from this deployment's own pages, "
                f"not {origin}: send a publishable key bound to it"
            )
        if not self._known(request, origin):
            raise OriginNotAllowed(f"origin {origin!r} may not call this API")

    def finish(self, request: Request, response: Response, *, refused: bool) -> Response:
        """Add ``Vary: Origin`` to every answer and the grant for a known origin, unless
        the request was refused for its origin."""
        response.vary.add("Origin")
        origin = request.headers.get("Origin")
        if origin and not refused and self._known(request, origin):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
        return response

    def _ours_or_own(self, request: Request, origin: str) -> bool:
        return origin in self._ours or origin == f"{request.scheme}://{request.host}"

    def _known(self, request: Request, origin: str) -> bool:
        return self._ours_or_own(request, origin) or origin in self._publishable
