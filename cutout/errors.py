"""The exceptions cutout raises on purpose.

Every error carries a stable machine-readable ``code`` (what clients and job documents
store) and a human ``message`` that names the problem. The HTTP edge maps the classes to
status codes; nothing below it knows about HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping


class CutoutError(Exception):
    """Base class: an error with a stable code and a message naming the problem."""

    default_code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code or self.default_code
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class InvalidInput(CutoutError):
    """The caller's request is wrong; sending the same request again fails again."""

    default_code = "invalid_input"


class PayloadTooLarge(InvalidInput):
    """The body or the image is over a configured limit."""

    default_code = "too_large"


class UnsupportedMedia(InvalidInput):
    """The bytes are not an image format we decode."""

    default_code = "unsupported_format"


class NotFound(CutoutError):
    """A job, blob or upload that does not exist (or no longer exists)."""

    default_code = "not_found"


class Conflict(CutoutError):
    """The request collides with current state: a lost compare-and-set, a reused key."""

    default_code = "conflict"


class IllegalTransition(Conflict):
    """A state change the job contract does not allow (e.g. ``done`` → ``running``)."""

    default_code = "illegal_transition"


class TransientError(CutoutError):
    """Worth retrying later: a backend was unavailable or timed out."""

    default_code = "transient"


class ConfigurationError(CutoutError):
    """The deployment is misconfigured (missing weights, bad setting); no retry helps."""

    default_code = "configuration"


class RateLimited(CutoutError):
    """A caller spent a quota (cutout/quotas.py); the edge answers 429 with ``headers``
    (``Retry-After`` and the ``X-RateLimit-*`` family)."""

    default_code = "rate_limited"

    def __init__(self, message: str, *, headers: Mapping[str, str]) -> None:
        super().__init__(message)
        self.headers = dict(headers)


class Overloaded(TransientError):
    """A tier's backlog is past its bound (cutout/shedding.py): nothing was accepted; the
    edge answers 503 with ``Retry-After: retry_after_s``."""

    default_code = "overloaded"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}
