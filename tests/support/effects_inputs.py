"""Inputs shared by the effects tests: a real photo with a deterministic test alpha.

The alpha is a centred soft ellipse (opaque inside, a ramp of a few pixels, transparent
corners): not a segmentation, but non-constant and identical on every machine.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from effects import EffectContext

FIXTURES = Path(__file__).parents[1] / "fixtures"


def photo(name: str = "chelsea.png", width: int | None = None) -> np.ndarray:
    """An RGB uint8 fixture photo, optionally scaled to ``width`` (area averaging)."""
    rgb = np.asarray(Image.open(FIXTURES / name).convert("RGB"))
    if width is not None:
        h, w = rgb.shape[:2]
        rgb = cv2.resize(rgb, (width, round(h * width / w)), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb)


def ellipse_alpha(height: int, width: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    d = ((yy - height / 2) / (0.42 * height)) ** 2 + ((xx - width / 2) / (0.36 * width)) ** 2
    return np.clip((1.0 - d) * 6.0 * 255.0, 0, 255).round().astype(np.uint8)


def cutout(name: str = "chelsea.png", width: int | None = 240) -> tuple[np.ndarray, EffectContext]:
    """(RGBA cut-out, context with the original) for a fixture photo."""
    rgb = photo(name, width)
    alpha = ellipse_alpha(*rgb.shape[:2])
    return np.ascontiguousarray(np.dstack([rgb, alpha])), EffectContext(original=rgb)
