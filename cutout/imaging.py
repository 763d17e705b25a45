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

from cutout.codes import ErrorCode
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
        raise InvalidInput("the file is empty (0 bytes)", code=ErrorCode.EMPTY_FILE)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidInput(str(exc), code=ErrorCode.DECOMPRESSION_BOMB) from exc
    except UnidentifiedImageError as exc:
        claimed = _signature(data)
        if claimed:
            raise InvalidInput(
                f"the file starts like a {claimed} but cannot be read (corrupt or cut short)",
                code=ErrorCode.IMAGE_CORRUPT,
            ) from exc
        raise UnsupportedMedia(
            "the file is not an image in a supported format "
            f"({', '.join(sorted(ACCEPTED_FORMATS))})"
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidInput(
            f"the image header is corrupt: {exc}", code=ErrorCode.IMAGE_CORRUPT
        ) from exc
    if image.format not in ACCEPTED_FORMATS:
        raise UnsupportedMedia(
            f"{image.format} images are not supported; send one of "
            f"{', '.join(sorted(ACCEPTED_FORMATS))}"
        )
    width, height = image.size
    if width < 1 or height < 1:
        raise InvalidInput(
            f"the image has no pixels ({width}x{height})", code=ErrorCode.IMAGE_CORRUPT
        )
    pixels = width * height
    if pixels > max_pixels:
        if pixels * 3 > len(data) * BOMB_RATIO:
            raise InvalidInput(
                f"{width}x{height} pixels in a {len(data)}-byte file looks like a "
                "decompression bomb",
                code=ErrorCode.DECOMPRESSION_BOMB,
            )
        raise PayloadTooLarge(
            f"the image has {pixels / 1e6:.1f} MP; the limit is {max_pixels / 1e6:.0f} MP",
            code=ErrorCode.IMAGE_TOO_LARGE,
        )
    return image


#: Leading bytes of the accepted formats, to tell a broken photo from a non-photo.
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "JPEG"),
    (0, b"\x89PNG", "PNG"),
    (0, b"GIF8", "GIF"),
    (0, b"BM", "BMP"),
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
    (8, b"WEBP", "WEBP"),
    (4, b"ftyp", "HEIF"),
)


def _signature(data: bytes) -> str | None:
    return next((name for at, magic, name in _SIGNATURES if data[at:].startswith(magic)), None)


def sniff_format(head: bytes) -> str | None:
    """The image format the first bytes of a file announce (16 are enough), or ``None``:
    how a folder walk tells photos from other files by content, not by extension."""
    return _signature(head)


def inspect_image(data: bytes, *, max_pixels: int) -> ImageInfo:
    """Sniff and check an upload without decoding its pixels: cheap enough for ingest's
    latency budget (a full JPEG decode would cost more than the rest of the request).

    Truncation is caught structurally per format (JPEG: an end-of-image marker after the
    main scan starts; PNG: every chunk's CRC up to IEND; WebP: the RIFF length; GIF: the
    trailer; HEIF: top-level boxes cover the file; BMP: the header's file size); TIFF is
    decoded. Corruption inside compressed pixel data shows up when the worker decodes,
    and fails the job with ``image_corrupt``.
    """
    image = open_image(data, max_pixels=max_pixels)
    fmt = image.format or ""
    try:
        if fmt == "PNG":
            image.verify()
        elif fmt == "TIFF":
            image.load()
        elif not _STRUCTURE_CHECKS[fmt](data):
            raise InvalidInput(f"the {fmt} file is truncated", code=ErrorCode.IMAGE_TRUNCATED)
    except OSError as exc:
        code = (
            ErrorCode.IMAGE_TRUNCATED
            if "truncated" in str(exc).lower()
            else ErrorCode.IMAGE_CORRUPT
        )
        raise InvalidInput(f"the {fmt} data is broken: {exc}", code=code) from exc
    except (SyntaxError, ValueError) as exc:
        raise InvalidInput(
            f"the {fmt} data is corrupt: {exc}", code=ErrorCode.IMAGE_CORRUPT
        ) from exc
    return ImageInfo(format=fmt, mime=ACCEPTED_FORMATS[fmt], width=image.width, height=image.height)


def _jpeg_complete(data: bytes) -> bool:
    """An EOI marker after the first start-of-scan (an EXIF thumbnail's EOI comes before
    it, so a file cut inside the main scan fails); trailing phone metadata is allowed."""
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xDA:
            return data.rfind(b"\xff\xd9") > pos
        if marker == 0xFF:
            pos += 1
            continue
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return False


def _riff_complete(data: bytes) -> bool:
    return len(data) >= 8 + int.from_bytes(data[4:8], "little")


def _gif_complete(data: bytes) -> bool:
    return data.rstrip(b"\0").endswith(b"\x3b")


def _bmp_complete(data: bytes) -> bool:
    return len(data) >= int.from_bytes(data[2:6], "little")


def _isobmff_complete(data: bytes) -> bool:
    """HEIF/HEIC: walk the top-level boxes; each must fit in the file."""
    pos = 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        if size == 1:
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        elif size == 0:
            return True
        if size < 8:
            return False
        pos += size
    return pos == len(data)


_STRUCTURE_CHECKS = {
    "JPEG": _jpeg_complete,
    "MPO": _jpeg_complete,
    "WEBP": _riff_complete,
    "GIF": _gif_complete,
    "BMP": _bmp_complete,
    "HEIF": _isobmff_complete,
}
