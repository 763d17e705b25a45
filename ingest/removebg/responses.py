"""remove.bg's answers: the image (or ``{"data": {"result_b64", ...}}``), its headers,
the account body, and every error as ``{"errors": [{"title", "code", "detail"}]}`` with
remove.bg's status codes.

``X-Type`` is always ``other`` (unless ``type_level=none``, which sends none): cutout's
model separates a foreground from its background without classifying it, and ``other``
is the one class of remove.bg's enumeration that claims nothing. ``X-Credits-Charged``
counts images against the key's images per day (1 per answered image, 0 on any error).
The ``X-Foreground-*`` headers and ``foreground_*`` fields (later remove.bg versions,
an extension here) give the subject's box in the answer, from its alpha; an opaque
answer (a background was asked for) has no alpha, so it carries none.
"""

from __future__ import annotations

import base64
import io
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image
from werkzeug.wrappers import Request, Response

from cutout.codes import ErrorCode
from cutout.errors import CutoutError, RateLimited
from cutout.quotas import Window
from ingest.auth import Forbidden, Unauthorized
from ingest.errors import ApiError
from ingest.presenting import json_response
from ingest.removebg.params import Plan, RemoveBgInvalid

X_TYPE = "other"
CONTENT_TYPES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "mask": "image/png",
}
#: cutout's codes → remove.bg's, where remove.bg has its own name for the problem.
CODES: dict[str, str] = {
    ErrorCode.TOO_LARGE: ErrorCode.FILE_TOO_LARGE,
    ErrorCode.UNSUPPORTED_FORMAT: ErrorCode.INVALID_FILE_TYPE,
    ErrorCode.IMAGE_TOO_LARGE: ErrorCode.RESOLUTION_TOO_HIGH,
    ErrorCode.EMPTY_FILE: ErrorCode.FAILED_TO_READ_IMAGE,
    ErrorCode.IMAGE_CORRUPT: ErrorCode.FAILED_TO_READ_IMAGE,
    ErrorCode.IMAGE_TRUNCATED: ErrorCode.FAILED_TO_READ_IMAGE,
    ErrorCode.DECOMPRESSION_BOMB: ErrorCode.FAILED_TO_READ_IMAGE,
}
TITLES: dict[str, str] = {
    ErrorCode.MISSING_SOURCE: "No image given",
    ErrorCode.MULTIPLE_SOURCES: "Multiple image sources given",
    ErrorCode.FILE_TOO_LARGE: "File too large",
    ErrorCode.INVALID_FILE_TYPE: "Invalid file type",
    ErrorCode.RESOLUTION_TOO_HIGH: "Image resolution too high",
    ErrorCode.FAILED_TO_READ_IMAGE: "There was an error reading the image.",
    ErrorCode.FAILED_IMAGE_DOWNLOAD: "Failed to download image from given image_url",
    ErrorCode.FAILED_BG_DOWNLOAD: "Failed to download background image from given bg_image_url",
    ErrorCode.INVALID_IMAGE_URL: "Invalid image_url: Please provide a valid URL.",
    ErrorCode.INVALID_BG_IMAGE_URL: "Invalid bg_image_url: Please provide a valid URL.",
    ErrorCode.INSUFFICIENT_CREDITS: "Insufficient credits",
    ErrorCode.RATE_LIMITED: "Rate limit exceeded",
    ErrorCode.RESULT_TIMEOUT: "Result not ready in time",
}


@dataclass(frozen=True)
class RemoveBgError:
    status: int
    code: str
    title: str
    detail: str
    headers: dict[str, str]


def removebg_error(exc: Exception) -> RemoveBgError:
    """Any failure in remove.bg's terms (status, code, title, headers)."""
    headers = dict(getattr(exc, "headers", {}) or {})
    if isinstance(exc, RemoveBgInvalid):
        title = TITLES.get(exc.code, f"Invalid value for parameter '{exc.parameter}'")
        return RemoveBgError(400, exc.code, title, exc.message, headers)
    if isinstance(exc, Unauthorized | Forbidden):
        return RemoveBgError(403, ErrorCode.AUTH_FAILED, _auth_title(exc), exc.message, headers)
    if isinstance(exc, RateLimited):
        spent: str = ErrorCode.INSUFFICIENT_CREDITS
        if Window.IMAGES.value in exc.message:
            return RemoveBgError(402, spent, TITLES[spent], exc.message, headers)
        limited: str = ErrorCode.RATE_LIMITED
        return RemoveBgError(429, limited, TITLES[limited], exc.message, headers)
    error = ApiError.from_exception(exc)
    code = CODES.get(error.code, error.code)
    status = 400 if error.status in (413, 415) else error.status
    if code == ErrorCode.RESULT_TIMEOUT:
        status = 504  # the gateway's answer for an upstream too slow; nothing is charged
    return RemoveBgError(status, code, TITLES.get(code, error.message), error.message, headers)


def _auth_title(exc: CutoutError) -> str:
    return "Missing API Key" if exc.code == ErrorCode.MISSING_API_KEY else "Invalid API Key"


def render_error(error: ApiError) -> dict[str, Any]:
    """The route table's renderer (errors raised before the handler runs: routing)."""
    return errors_body(TITLES.get(error.code, error.message), error.code, error.message)


def errors_body(title: str, code: str, detail: str) -> dict[str, Any]:
    return {"errors": [{"title": title, "code": code, "detail": detail}]}


def error_response(error: RemoveBgError, headers: dict[str, str]) -> Response:
    return json_response(
        errors_body(error.title, error.code, error.detail),
        error.status,
        {**headers, **error.headers, "X-Credits-Charged": "0"},
    )


def wants_json(request: Request) -> bool:
    """``Accept: application/json`` (preferred over any image type) asks for JSON."""
    accept = request.accept_mimetypes
    json_q = (
        accept["application/json"] if "application/json" in request.headers.get("Accept", "") else 0
    )
    return json_q > 0 and json_q >= accept["image/png"]


def image_answer(
    request: Request, plan: Plan, data: bytes, fmt: str, headers: dict[str, str]
) -> Response:
    """The answer for the result ``data`` (``fmt``: cutout's output format), packed as
    the plan asks (zip: a colour JPG and an alpha PNG), as an image or as JSON."""
    content_type = CONTENT_TYPES[fmt]
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        width, height = image.size
        box = foreground_box(image)
        if plan.zip:
            data, content_type = zip_of(image), "application/zip"
    out = {**headers, "X-Width": str(width), "X-Height": str(height), "X-Credits-Charged": "1"}
    if plan.type_header:
        out["X-Type"] = X_TYPE
    if box is not None:
        for name, value in zip(("Top", "Left", "Width", "Height"), box, strict=True):
            out[f"X-Foreground-{name}"] = str(value)
    if wants_json(request):
        body: dict[str, Any] = {"result_b64": base64.b64encode(data).decode("ascii")}
        if box is not None:
            body.update(
                zip(
                    ("foreground_top", "foreground_left", "foreground_width", "foreground_height"),
                    box,
                    strict=True,
                )
            )
        return json_response({"data": body}, 200, out)
    return Response(data, status=200, content_type=content_type, headers=out)


def foreground_box(image: Image.Image) -> tuple[int, int, int, int] | None:
    """(top, left, width, height) of the pixels at least 10% opaque; a mask is its own
    alpha; ``None`` for an opaque image."""
    if image.mode == "L":
        alpha = np.asarray(image)
    elif "A" in image.getbands():
        alpha = np.asarray(image.getchannel("A"))
    else:
        return None
    rows = np.flatnonzero((alpha >= 26).any(axis=1))
    cols = np.flatnonzero((alpha >= 26).any(axis=0))
    if rows.size == 0:
        return 0, 0, 0, 0
    return int(rows[0]), int(cols[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)


def zip_of(image: Image.Image) -> bytes:
    """remove.bg's zip: ``color.jpg`` (the colours, no alpha) and ``alpha.png`` (the
    matte), which a client composes into the full-quality cut-out."""
    rgba = image.convert("RGBA")
    colour, matte = io.BytesIO(), io.BytesIO()
    rgba.convert("RGB").save(colour, "JPEG", quality=90)
    rgba.getchannel("A").save(matte, "PNG")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("color.jpg", colour.getvalue())
        archive.writestr("alpha.png", matte.getvalue())
    return out.getvalue()


def account_body(remaining: int) -> dict[str, Any]:
    """``GET /v1.0/account``: credits are the key's images left today (one credit per
    image); ``free_calls`` is the same count, ``sizes`` the deprecated constant."""
    return {
        "data": {
            "attributes": {
                "credits": {
                    "total": float(remaining),
                    "subscription": float(remaining),
                    "payg": 0.0,
                    "enterprise": 0.0,
                },
                "api": {"free_calls": remaining, "sizes": "all"},
            }
        }
    }
