"""The error policy at the HTTP edge: which status each of our errors gets, and how a
route writes the body.

Every failure becomes one :class:`ApiError` (status, code, message). A route renders it
with its own :data:`ErrorRenderer`; the default is ours, ``{"error": {"code",
"message"}}``. A route that speaks another API's dialect (remove.bg's ``{"errors":
[{"title", "code", "detail"}]}``) names its own renderer in the route table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed

from cutout.codes import ErrorCode
from cutout.errors import (
    Conflict,
    CutoutError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    TransientError,
    UnsupportedMedia,
)
from cutout.ports.blob_routes import SignedUrlRefused
from ingest.auth import Forbidden, Unauthorized

#: Our error classes → HTTP status, most specific first; anything else is a 500.
STATUS_BY_ERROR: list[tuple[type[CutoutError], int]] = [
    (PayloadTooLarge, 413),
    (UnsupportedMedia, 415),
    (SignedUrlRefused, 403),
    (Unauthorized, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (InvalidInput, 400),
    (RateLimited, 429),
    (TransientError, 503),
]

INTERNAL_MESSAGE = "internal error; it has been logged"


@dataclass(frozen=True)
class ApiError:
    status: int
    code: str
    message: str

    @classmethod
    def from_exception(cls, exc: Exception) -> ApiError:
        """Our errors by class; werkzeug's routing errors by kind; anything else is an
        internal error whose details stay in the log, not in the answer."""
        if isinstance(exc, CutoutError):
            status = next((s for kind, s in STATUS_BY_ERROR if isinstance(exc, kind)), 500)
            return cls(status, exc.code, exc.message)
        if isinstance(exc, MethodNotAllowed):
            return cls(405, ErrorCode.METHOD_NOT_ALLOWED, str(exc.description))
        if isinstance(exc, HTTPException):
            code = ErrorCode.ROUTE_NOT_FOUND if exc.code == 404 else ErrorCode.MALFORMED_REQUEST
            return cls(exc.code or 400, code, str(exc.description))
        return cls(500, ErrorCode.INTERNAL, INTERNAL_MESSAGE)


#: Turns an error into the JSON body a route answers with.
ErrorRenderer = Callable[[ApiError], Any]


def error_body(error: ApiError) -> dict[str, Any]:
    """cutout's own error body, on every route that names no other."""
    return {"error": {"code": error.code, "message": error.message}}
