"""Downscaling a photo by area averaging, fast: the display rendition's photo and the
preview both start here, by the effects' own rule (:func:`effects.area_average`)."""

from __future__ import annotations

import numpy as np

from effects import area_average


def shrink_to(rgb: np.ndarray, scale: float) -> np.ndarray:
    """``rgb`` scaled by ``scale`` (≤ 1), as area averaging would: the display rendition's
    photo."""
    if scale >= 1.0:
        return rgb
    h, w = rgb.shape[:2]
    return area_average(rgb, max(1, round(w * scale)), max(1, round(h * scale)))
