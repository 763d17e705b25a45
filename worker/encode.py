"""Encode one result for storage: PNG, WebP, JPEG or the alpha mask.

Chosen for speed, measured on 12 MP effect outputs on the 2-core dev machine (table in
``effects/README.md``): PNG goes through :mod:`worker.png` (Up filter + ISA-L deflate) at
0.06-0.23 s, where Pillow and OpenCV at zlib level 1 take 0.2-1.7 s; lossless WebP uses
method 0, the fastest libwebp has; lossy WebP uses method 1 and alpha quality 90 (about
3x faster than method 4 with lossless alpha, files about 20% larger); JPEG is Pillow's
libjpeg-turbo with 4:2:0 chroma. WebP goes through :mod:`worker.webp_encoder`, which lets
the looks of one rendition that keep the same alpha compress it once.

Guarantees: nothing from the input file survives (no EXIF, GPS, ICC or XMP; orientation
was applied to the pixels at decode); colour under fully transparent pixels is cleared,
which hides the removed background and compresses better; gray images become gray PNGs
and opaque ones lose their alpha channel (lossless, smaller, faster).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from cutout.job import JPEG_MATTE, JPEG_QUALITY, OutputFormat, OutputSpec
from worker.png import write_png
from worker.webp_encoder import AlphaChunks, encode_webp

WEBP_LOSSY_METHOD = 1
#: Below 100 libwebp pre-quantises alpha levels; 100 (lossless alpha) doubles the time.
WEBP_ALPHA_QUALITY = 90
_GRAY_SAMPLE = 9973  # check every n-th pixel for colour before checking them all


@dataclass(frozen=True)
class Encoded:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int


def encode(
    rgba: np.ndarray,
    output: OutputSpec,
    *,
    webp_method: int | None = None,
    shared: AlphaChunks | None = None,
) -> Encoded:
    """``rgba`` (HxWx4 uint8) in the format ``output`` asks for; ``webp_method`` overrides
    lossy WebP's method (0 for display renditions: fastest, and smaller at that size);
    lossy WebP results of one rendition with equal alpha compress it once in ``shared``."""
    if rgba.dtype != np.uint8 or rgba.ndim != 3 or rgba.shape[2] != 4 or 0 in rgba.shape:
        raise ValueError(f"encode takes an HxWx4 uint8 array, got {rgba.dtype} {rgba.shape}")
    h, w = rgba.shape[:2]
    alpha = np.ascontiguousarray(rgba[:, :, 3])
    fmt = output.format
    if fmt is OutputFormat.MASK:
        return Encoded(write_png(alpha), "image/png", fmt.extension, w, h)
    if fmt is OutputFormat.JPEG:
        flat = _flatten(rgba, alpha, output.matte or JPEG_MATTE)
        quality = output.quality or JPEG_QUALITY
        data = _pillow(flat, "JPEG", quality=quality, subsampling="4:2:0")
        return Encoded(data, "image/jpeg", fmt.extension, w, h)
    opaque = cv2.minMaxLoc(alpha)[0] == 255
    if not opaque:
        rgba = _clear_hidden(rgba, alpha)
    if fmt is OutputFormat.PNG:
        return Encoded(
            write_png(_fewest_channels(rgba, alpha, opaque)), "image/png", fmt.extension, w, h
        )
    pixels = cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB) if opaque else rgba
    if output.quality is None:
        data = encode_webp(pixels, lossless=True, quality=0, method=0)
    else:
        data = encode_webp(
            pixels,
            quality=output.quality,
            method=WEBP_LOSSY_METHOD if webp_method is None else webp_method,
            alpha_quality=WEBP_ALPHA_QUALITY,
            shared=shared,
        )
    return Encoded(data, "image/webp", fmt.extension, w, h)


def _clear_hidden(rgba: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``rgba`` with colour 0 wherever alpha is 0: the visible pixels copied onto zeros,
    alpha itself the mask (0.7 ms at 1600x1200; a thresholded mask and a masked
    ``bitwise_and`` took 2.2 ms)."""
    cleared = np.zeros_like(rgba)
    cv2.copyTo(rgba, alpha, cleared)
    return cleared


def _fewest_channels(rgba: np.ndarray, alpha: np.ndarray, opaque: bool) -> np.ndarray:
    """The same picture without redundant channels: no alpha if opaque, gray if every
    pixel has R = G = B."""
    gray = _is_gray(rgba)
    if opaque:
        return (
            np.ascontiguousarray(rgba[:, :, 0]) if gray else cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB)
        )
    return cv2.merge([rgba[:, :, 0], alpha]) if gray else rgba


def _is_gray(rgba: np.ndarray) -> bool:
    """R = G = B everywhere; a sparse sample rules most colour images out at once."""
    sample = rgba.reshape(-1, 4)[::_GRAY_SAMPLE]
    for image in (sample, rgba.reshape(-1, 4)):
        r, g, b = image[:, 0], image[:, 1], image[:, 2]
        if not (np.array_equal(r, g) and np.array_equal(g, b)):
            return False
    return True


def _flatten(rgba: np.ndarray, alpha: np.ndarray, matte: str) -> np.ndarray:
    """RGB of ``rgba`` composited over the ``#rrggbb`` matte colour."""
    rgb = cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB)
    if cv2.minMaxLoc(alpha)[0] == 255:
        return rgb
    backdrop = np.empty_like(rgb)
    backdrop[:] = tuple(int(matte[i : i + 2], 16) for i in (1, 3, 5))
    weight = alpha.astype(np.float32) / np.float32(255.0)
    return cv2.blendLinear(rgb, backdrop, weight, 1.0 - weight)


def _pillow(pixels: np.ndarray, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, **options)
    return buffer.getvalue()
