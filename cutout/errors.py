"""The exceptions cutout raises on purpose.

Every error carries a stable machine-readable ``code`` (what clients and job documents
store) and a human ``message`` that names the problem. The HTTP edge maps the classes to
status codes; nothing below it knows about HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping

from cutout.codes import ErrorCode


class CutoutError(Exception):
    """Base class: an error with a stable code and a message naming the problem."""

    default_code: str = ErrorCode.ERROR

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code or self.default_code
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class InvalidInput(CutoutError):
    """The caller's request is wrong; sending the same request again fails again."""

    default_code = ErrorCode.INVALID_INPUT


class PayloadTooLarge(InvalidInput):
    """The body or the image is over a configured limit."""

    default_code = ErrorCode.TOO_LARGE


class UnsupportedMedia(InvalidInput):
    """The bytes are not an image format we decode."""

    default_code = ErrorCode.UNSUPPORTED_FORMAT


class NotFound(CutoutError):
    """A job, blob or upload that does not exist (or no longer exists)."""

    default_code = ErrorCode.NOT_FOUND


class Conflict(CutoutError):
    """The request collides with current state: a lost compare-and-set, a reused key."""

    default_code = ErrorCode.CONFLICT


class IllegalTransition(Conflict):
    """A state change the job contract does not allow (e.g. ``done`` → ``running``)."""

    default_code = ErrorCode.ILLEGAL_TRANSITION


class TransientError(CutoutError):
    """Worth retrying later: a backend was unavailable or timed out."""

    default_code = ErrorCode.TRANSIENT


class ConfigurationError(CutoutError):
    """The deployment is misconfigured (missing weights, bad setting); no retry helps."""

    default_code = ErrorCode.CONFIGURATION


class RateLimited(CutoutError):
    """A caller spent a quota (cutout/quotas.py); the edge answers 429 with ``headers``
    (``Retry-After`` and the ``X-RateLimit-*`` family)."""

    default_code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, *, headers: Mapping[str, str]) -> None:
        super().__init__(message)
        self.headers = dict(headers)


class Overloaded(TransientError):
    """A tier's backlog is past its bound (cutout/shedding.py): nothing was accepted; the
    edge answers 503 with ``Retry-After: retry_after_s``."""

    default_code = ErrorCode.OVERLOADED

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


class PermissionDenied(ConfigurationError):
    """A backend refused this process's credentials (403/401, a read-only file): every
    retry and every worker started the same way fails the same way."""

    default_code = ErrorCode.PERMISSION_DENIED
