"""Sniffing and structural checks at ingest, every accepted format, whole and cut short."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from cutout.errors import InvalidInput, PayloadTooLarge, UnsupportedMedia
from cutout.imaging import inspect_image
from cutout.samples import jpeg_bytes, photo_like

LIMIT = 50_000_000


def encode(fmt: str, **kw: object) -> bytes:
    image = Image.fromarray(photo_like(120, 80))
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


FORMATS = {
    "JPEG": lambda: jpeg_bytes(photo_like(120, 80)),
    "PNG": lambda: encode("PNG"),
    "WEBP": lambda: encode("WEBP", quality=80),
    "GIF": lambda: encode("GIF"),
    "BMP": lambda: encode("BMP"),
    "TIFF": lambda: encode("TIFF", compression="tiff_deflate"),
    "HEIF": lambda: encode("HEIF", quality=80),
}


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_accepted_format_is_recognised_by_its_bytes(fmt: str) -> None:
    info = inspect_image(FORMATS[fmt](), max_pixels=LIMIT)
    assert (info.format, info.width, info.height) == (fmt, 120, 80)
    assert info.mime.startswith("image/")


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_cut_short_is_reported_truncated(fmt: str) -> None:
    data = FORMATS[fmt]()
    with pytest.raises(InvalidInput) as caught:
        inspect_image(data[: int(len(data) * 0.7)], max_pixels=LIMIT)
    assert caught.value.code in ("image_truncated", "image_corrupt")


def test_a_jpeg_cut_inside_the_scan_is_truncated_even_with_an_exif_thumbnail() -> None:
    thumbnail = io.BytesIO()
    Image.fromarray(photo_like(32, 24)).save(thumbnail, "JPEG")
    exif = Image.Exif()
    exif[0x0112] = 1
    full = io.BytesIO()
    Image.fromarray(photo_like(400, 300)).save(full, "JPEG", exif=exif.tobytes())
    data = full.getvalue()
    with pytest.raises(InvalidInput) as caught:
        inspect_image(data[: len(data) - 500], max_pixels=LIMIT)
    assert caught.value.code == "image_truncated"


def test_trailing_phone_metadata_after_the_jpeg_is_accepted() -> None:
    data = jpeg_bytes(photo_like(120, 80)) + b"SEFT trailer written by some phones" * 10
    assert inspect_image(data, max_pixels=LIMIT).format == "JPEG"


def test_non_images_and_unsupported_formats_are_415() -> None:
    with pytest.raises(UnsupportedMedia):
        inspect_image(b"%PDF-1.7 not an image", max_pixels=LIMIT)
    ico = io.BytesIO()
    Image.fromarray(photo_like(32, 32)).save(ico, "ICO")
    with pytest.raises(UnsupportedMedia) as caught:
        inspect_image(ico.getvalue(), max_pixels=LIMIT)
    assert "ICO" in caught.value.message


def test_pixel_limit_separates_big_photos_from_bombs() -> None:
    big = jpeg_bytes(photo_like(3000, 2000), quality=80)  # 6 MP, a few hundred KB
    with pytest.raises(PayloadTooLarge) as caught:
        inspect_image(big, max_pixels=5_000_000)
    assert caught.value.code == "image_too_large"
    flat = io.BytesIO()
    Image.fromarray(np.zeros((3000, 2000), np.uint8)).save(flat, "PNG")  # a few KB
    with pytest.raises(InvalidInput) as caught_bomb:
        inspect_image(flat.getvalue(), max_pixels=5_000_000)
    assert caught_bomb.value.code == "decompression_bomb"


def test_empty_bytes() -> None:
    with pytest.raises(InvalidInput) as caught:
        inspect_image(b"", max_pixels=LIMIT)
    assert caught.value.code == "empty_file"
