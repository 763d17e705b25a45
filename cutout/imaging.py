"""Recognising and checking uploaded images, shared by ingest (reject early) and the worker
(decode). The real format is sniffed from the bytes; the file name and declared content
type are never trusted.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import pillow_heif
from PIL import Image, UnidentifiedImageError

from cutout.errors import InvalidInput, PayloadTooLarge, UnsupportedMedia

pillow_heif.register_heif_opener()

#: Pillow format name → MIME type, for every format we accept. MPO is what many phones
#: write for JPEGs (a JPEG with extra frames); HEIF covers HEIC.
ACCEPTED_FORMATS: dict[str, str] = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
    "HEIF": "image/heif",
}

#: Bytes of raw pixels per byte of file above which an over-limit image counts as a
#: decompression bomb (a crafted file) rather than merely a big photo.
BOMB_RATIO = 1000


@dataclass(frozen=True)
class ImageInfo:
    format: str
    mime: str
    width: int
    height: int


def open_image(data: bytes, *, max_pixels: int) -> Image.Image:
    """Open (lazily: header only) an image we accept, or raise an error naming why not.

    Checks, in order: empty, recognisable, an accepted format, non-zero size, within
    ``max_pixels`` (over it: ``image_too_large``, or ``decompression_bomb`` when the file is
    tiny for its claimed size).
    """
    if not data:
        raise InvalidInput("the file is empty (0 bytes)", code="empty_file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidInput(str(exc), code="decompression_bomb") from exc
    except UnidentifiedImageError as exc:
        raise UnsupportedMedia(
            "the file is not an image in a supported format "
            f"({', '.join(sorted(ACCEPTED_FORMATS))})"
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidInput(f"the image header is corrupt: {exc}", code="image_corrupt") from exc
    if image.format not in ACCEPTED_FORMATS:
        raise UnsupportedMedia(
            f"{image.format} images are not supported; send one of "
            f"{', '.join(sorted(ACCEPTED_FORMATS))}"
        )
    width, height = image.size
    if width < 1 or height < 1:
        raise InvalidInput(f"the image has no pixels ({width}x{height})", code="image_corrupt")
    pixels = width * height
    if pixels > max_pixels:
        if pixels * 3 > len(data) * BOMB_RATIO:
            raise InvalidInput(
                f"{width}x{height} pixels in a {len(data)}-byte file looks like a "
                "decompression bomb",
                code="decompression_bomb",
            )
        raise PayloadTooLarge(
            f"the image has {pixels / 1e6:.1f} MP; the limit is {max_pixels / 1e6:.0f} MP",
            code="image_too_large",
        )
    return image


def inspect_image(data: bytes, *, max_pixels: int) -> ImageInfo:
    """Sniff and check an upload without decoding all of it: cheap enough for ingest.

    Truncated or corrupt data is caught with the cheapest check each format allows: JPEG is
    entropy-decoded at 1/8 scale, PNG chunks are CRC-checked, other formats are decoded.
    """
    image = open_image(data, max_pixels=max_pixels)
    info = ImageInfo(
        format=image.format or "",
        mime=ACCEPTED_FORMATS[image.format or ""],
        width=image.width,
        height=image.height,
    )
    try:
        if info.format in ("JPEG", "MPO"):
            image.draft("RGB", (max(1, info.width // 8), max(1, info.height // 8)))
            image.load()
        elif info.format == "PNG":
            image.verify()
        else:
            image.load()
    except OSError as exc:
        if "truncated" in str(exc).lower():
            raise InvalidInput(
                f"the {info.format} file is truncated", code="image_truncated"
            ) from exc
        raise InvalidInput(
            f"the {info.format} data is corrupt: {exc}", code="image_corrupt"
        ) from exc
    except (SyntaxError, ValueError) as exc:
        raise InvalidInput(
            f"the {info.format} data is corrupt: {exc}", code="image_corrupt"
        ) from exc
    return info
