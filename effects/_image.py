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


def fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` resized to ``width`` x ``height`` by area averaging (unchanged if it is
    that size already): how features drawn at whole pixels reach a fractional pitch."""
    if image.shape[1] == width and image.shape[0] == height:
        return image
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


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
