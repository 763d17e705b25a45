"""worker.png: the fast PNG writer, read back by Pillow and by OpenCV."""

from __future__ import annotations

import io
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from worker.png import write_png


@pytest.mark.parametrize(
    ("shape", "mode"),
    [((7, 5), "L"), ((7, 5, 1), "L"), ((7, 5, 2), "LA"), ((7, 5, 3), "RGB"), ((7, 5, 4), "RGBA"),
     ((1, 1, 4), "RGBA"), ((301, 457, 4), "RGBA")],
)  # fmt: skip
def test_round_trip(shape: tuple[int, ...], mode: str) -> None:
    pixels = np.random.default_rng(len(shape)).integers(0, 256, shape, dtype=np.uint8)
    data = write_png(pixels)
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG" and image.mode == mode and image.size == (shape[1], shape[0])
    np.testing.assert_array_equal(np.asarray(image).reshape(shape), pixels)
    assert image.info == {}  # no metadata chunks at all


def test_opencv_reads_it_too() -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    decoded = cv2.imdecode(np.frombuffer(write_png(pixels), np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded is not None
    np.testing.assert_array_equal(cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB), pixels)


def test_only_the_required_chunks_with_valid_crcs() -> None:
    data = write_png(np.zeros((4, 4, 4), np.uint8))
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, kinds = 8, []
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        crc = int.from_bytes(data[pos + 8 + length : pos + 12 + length], "big")
        assert zlib.crc32(kind + body) == crc
        kinds.append(kind)
        pos += 12 + length
    assert kinds == [b"IHDR", b"IDAT", b"IEND"]


def test_flat_images_compress_well() -> None:
    assert len(write_png(np.full((1000, 1000, 4), 200, np.uint8))) < 20_000


@pytest.mark.parametrize(
    "bad",
    [np.zeros((4, 4), np.uint16), np.zeros((4, 4, 5), np.uint8), np.zeros((0, 4, 3), np.uint8),
     np.zeros((2, 2, 2, 2), np.uint8)],
)  # fmt: skip
def test_bad_arrays(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        write_png(bad)
