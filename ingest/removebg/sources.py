"""Where a remove.bg request's images come from (exactly one of ``image_file``,
``image_file_b64``, ``image_url``; a background from ``bg_image_file`` or
``bg_image_url``), and ``size`` as a resolution: the photo is scaled down to the size's
megapixels before it becomes a job, so the answer has that resolution.
"""

from __future__ import annotations

import base64
import binascii
import io
import math

from PIL import Image, ImageOps

from cutout.codes import ErrorCode
from cutout.errors import InvalidInput
from cutout.imaging import open_image
from ingest.fetch import FetchCodes, Fetcher
from ingest.removebg.params import Plan, RemoveBgInvalid, RemoveBgRequest

IMAGE_CODES = FetchCodes(
    invalid=ErrorCode.INVALID_IMAGE_URL, failed=ErrorCode.FAILED_IMAGE_DOWNLOAD
)
BG_CODES = FetchCodes(invalid=ErrorCode.INVALID_BG_IMAGE_URL, failed=ErrorCode.FAILED_BG_DOWNLOAD)
SOURCES = ("image_file", "image_file_b64", "image_url")


def photo_bytes(req: RemoveBgRequest, fetcher: Fetcher) -> bytes:
    given = [name for name in SOURCES if getattr(req, name)]
    if not given:
        raise RemoveBgInvalid(
            "image_file",
            "Please provide the source image in the image_url, image_file or image_file_b64 "
            "parameter.",
            code=ErrorCode.MISSING_SOURCE,
        )
    if len(given) > 1:
        raise RemoveBgInvalid(
            given[1],
            f"Multiple image sources given ({', '.join(given)}): please provide either the "
            "image_url, image_file or image_file_b64 parameter.",
            code=ErrorCode.MULTIPLE_SOURCES,
        )
    if req.image_file is not None:
        return req.image_file
    if req.image_file_b64:
        return _base64(req.image_file_b64)
    return fetcher.fetch_image(str(req.image_url), IMAGE_CODES)


def background_bytes(plan: Plan, fetcher: Fetcher) -> bytes | None:
    if plan.background_file is not None:
        return plan.background_file
    if plan.background_url:
        return fetcher.fetch_image(plan.background_url, BG_CODES)
    return None


def _base64(text: str) -> bytes:
    payload = text.split(",", 1)[1] if text.startswith("data:") else text
    try:
        return base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RemoveBgInvalid(
            "image_file_b64",
            f"image_file_b64 is not base64: {exc}",
            code=ErrorCode.FAILED_TO_READ_IMAGE,
        ) from exc


def fit_megapixels(data: bytes, megapixels: float | None, *, max_pixels: int) -> bytes:
    """``data`` scaled down (EXIF orientation applied, colour profile kept) to at most
    ``megapixels``; unchanged when it is already within them or ``megapixels`` is None.
    The copy is PNG when the photo has alpha, else JPEG at quality 95."""
    if megapixels is None:
        return data
    image = open_image(data, max_pixels=max_pixels)
    budget = megapixels * 1_000_000
    if image.width * image.height <= budget:
        return data
    try:
        upright = ImageOps.exif_transpose(image)
    except (OSError, ValueError) as exc:  # pixel data corrupt inside a well-formed file
        raise InvalidInput(f"the image cannot be decoded: {exc}", code="image_corrupt") from exc
    factor = math.sqrt(budget / (upright.width * upright.height))
    size = (max(1, int(upright.width * factor)), max(1, int(upright.height * factor)))
    small = upright.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    out = io.BytesIO()
    icc = image.info.get("icc_profile")
    extra = {"icc_profile": icc} if icc else {}
    if "A" in small.getbands() or small.mode in ("P", "LA", "PA"):
        small.convert("RGBA").save(out, "PNG", compress_level=1, **extra)
    else:
        small.convert("RGB").save(out, "JPEG", quality=95, **extra)
    return out.getvalue()
