"""A fast PNG writer: numpy row filtering and ISA-L deflate.

Encoding dominated the old service's CPU time (PNG level 6 takes 4.5 s on 12 MP with
Pillow). Here the "Up" filter is one vectorised subtraction and ISA-L's level-1 deflate
(``isal``) runs at several hundred MB/s with the GIL released, so a 12 MP RGBA image takes
about 0.15 s instead of 0.6-1.0 s for Pillow/OpenCV at level 1, at a similar size (see
``worker/encode.py`` for the numbers). Only IHDR, IDAT and IEND chunks are written: no
metadata of any kind.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
from isal import isal_zlib

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: PNG colour type by channel count: gray, gray+alpha, RGB, RGBA.
_COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}
_FILTER_UP = 2
_LEVEL = 1


def write_png(pixels: np.ndarray) -> bytes:
    """Encode an HxW or HxWxC (C = 1, 2, 3, 4) uint8 array as an 8-bit PNG."""
    if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3) or 0 in pixels.shape:
        raise ValueError(f"write_png takes a uint8 image, got {pixels.dtype} {pixels.shape}")
    image = pixels if pixels.ndim == 3 else pixels[:, :, None]
    h, w, channels = image.shape
    if channels not in _COLOUR_TYPE:
        raise ValueError(f"write_png takes 1 to 4 channels, got {channels}")
    header = struct.pack(">IIBBBBB", w, h, 8, _COLOUR_TYPE[channels], 0, 0, 0)
    data = isal_zlib.compress(_filter_up(image.reshape(h, w * channels)), _LEVEL)
    return _SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def _filter_up(rows: np.ndarray) -> bytes | memoryview:
    """Each row minus the row above (mod 256), each prefixed with the filter type byte."""
    h, width = rows.shape
    out = np.empty((h, width + 1), dtype=np.uint8)
    out[:, 0] = _FILTER_UP
    out[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=out[1:, 1:])
    return out.data.cast("B")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
