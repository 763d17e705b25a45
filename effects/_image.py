"""Pixel helpers shared by several effects (pure, no I/O)."""

from __future__ import annotations

import math

import cv2
import numpy as np


def check_rgba(rgba: np.ndarray) -> None:
    """Raise ``ValueError`` unless ``rgba`` is a non-empty HxWx4 uint8 array."""
    if not isinstance(rgba, np.ndarray) or rgba.dtype != np.uint8:
        raise ValueError(f"effects take uint8 arrays, got {getattr(rgba, 'dtype', type(rgba))}")
    if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.shape[0] == 0 or rgba.shape[1] == 0:
        raise ValueError(f"effects take HxWx4 RGBA arrays, got shape {rgba.shape}")


def check_rgb(image: np.ndarray, what: str) -> None:
    """Raise ``ValueError`` unless ``image`` is a non-empty HxWx3 uint8 array."""
    if (
        not isinstance(image, np.ndarray)
        or image.dtype != np.uint8
        or image.ndim != 3
        or image.shape[2] != 3
        or image.size == 0
    ):
        raise ValueError(f"{what} must be an HxWx3 uint8 array, got {_describe(image)}")


def _describe(image: object) -> str:
    if isinstance(image, np.ndarray):
        return f"{image.dtype} array of shape {image.shape}"
    return type(image).__name__


def permille(shape: tuple[int, ...], value: float) -> float:
    """``value`` thousandths of the long side of an image of ``shape``, in pixels."""
    return max(shape[0], shape[1]) * value / 1000.0


def full_pixels(shape: tuple[int, ...], value: float, full_shape: tuple[int, ...] | None) -> float:
    """``value`` thousandths of the full rendition's long side, in full-resolution pixels,
    for an image of ``shape`` whose full rendition has ``full_shape`` (``None``: it is the
    full rendition; see :class:`~effects.context.EffectContext`)."""
    return permille(full_shape or shape, value)


#: Up to this much of the way left after halving, bilinear stands in for area averaging.
LINEAR_UP_TO = 1.5


def area_average(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` shrunk to ``width`` x ``height`` as area averaging would, fast, never by
    OpenCV's general area mode, which is scalar code. A whole factor both ways is one exact
    step (OpenCV's fast path); otherwise the image is halved (the fast path) while at
    least half is left to go, then taken the rest of the way bilinearly if that is at most
    :data:`LINEAR_UP_TO` times, else enlarged bilinearly to twice the size and halved.
    12 MP to 1600x1200 (halved, then 1.26x) took 0.0295 s of CPU with area averaging for
    the last step and 0.0107 s with bilinear, both 0.9 levels from a one-step area resize
    on average (SSIM 0.983-0.984; 0.059 s in one step); halftone's 1638x1235 paper to
    1600x1206, 10.9 ms and 1.5 ms; retro8bit's display cells (1603x1206 to 404x304,
    3.97x), 14.7 ms in one step (retro8bit's display 0.034 → 0.024 s). Bilinear alone
    drifts from area averaging as the step grows: SSIM 0.992 at 1.5x, 0.951 at 1.95x,
    where it starts to alias."""
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    if w % width == 0 and h % height == 0:
        return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    while image.shape[1] >= 2 * width and image.shape[0] >= 2 * height:
        h, w = image.shape[:2]
        even = image[: h - h % 2, : w - w % 2]  # an odd row or column would leave the fast path
        image = cv2.resize(even, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    if max(image.shape[1] / width, image.shape[0] / height) > LINEAR_UP_TO:
        image = cv2.resize(image, (2 * width, 2 * height), interpolation=cv2.INTER_LINEAR)
        return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)


def gray_rgba(gray: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """A uint8 gray image and an alpha channel → HxWx4 RGBA."""
    return cv2.merge([gray, gray, gray, alpha])


def blur_factor(sigma: float) -> int:
    """How much a Gaussian of ``sigma`` pixels lets an image shrink before blurring
    without a visible difference (the reduced blur keeps sigma ≥ 3 pixels)."""
    return max(1, int(sigma / 3.0))


def shrink(image: np.ndarray, factor: int) -> np.ndarray:
    """Area-average ``image`` down by ``factor`` (at least one pixel each way)."""
    if factor == 1:
        return image
    h, w = image.shape[:2]
    size = (max(1, math.ceil(w / factor)), max(1, math.ceil(h / factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
