"""``popart``: a screen-print poster of the cut-out in a few bold flat colours.

Contrast is stretched over the subject (mostly histogram equalisation), luminance is cut
into ``levels`` bands, each band takes one colour of the chosen palette (dark to
light), and a saturated, posterised copy of the photo is laid over it so the subject's
own colours still read through. Alpha is preserved exactly. All steps are 8-bit lookup
tables, so the cost is a few passes over the image.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
from pydantic import Field

from effects._image import check_rgba
from effects._params import Params, hex_to_rgb

#: Eight colours each, dark to light; ``levels`` picks evenly spread ones.
PALETTES: dict[str, tuple[str, ...]] = {
    "warhol": (
        "#14143c", "#5b2a86", "#d7263d", "#f46036", "#ff8fb1", "#2ec4b6", "#f9e04b", "#fdf6e3",
    ),
    "lichtenstein": (
        "#111111", "#1d3f8f", "#2f6fd6", "#e4312b", "#f26b5b", "#ffd200", "#ffe970", "#fffdf5",
    ),
    "neon": (
        "#0d0221", "#2d00f7", "#8900f2", "#f20089", "#ff5400", "#ffbd00", "#00f5d4", "#f1fffa",
    ),
    "sunset": (
        "#2b0f54", "#6b0f6b", "#ab1f65", "#e0425b", "#ff6b3d", "#ff9e3d", "#ffc75f", "#fff4c2",
    ),
}  # fmt: skip
PaletteName = Literal["warhol", "lichtenstein", "neon", "sunset"]
_OVERLAY = 0.35  # weight of the photo's posterised colours over the flat palette
_EQUALISE = 0.7  # share of histogram equalisation in the tone stretch


class PopArtParams(Params):
    palette: PaletteName = Field("warhol", description="named colour preset")
    levels: int = Field(4, ge=2, le=8, description="luminance bands (= colours used)")
    saturation: float = Field(1.8, ge=0.0, le=3.0, description="saturation boost; 1 = as shot")


def apply(rgba: np.ndarray, params: PopArtParams, ctx: object) -> np.ndarray:
    check_rgba(rgba)
    alpha = cv2.extractChannel(rgba, 3)
    rgb = cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    stretch = _stretch_lut(gray, alpha)
    gray3 = cv2.merge([gray, gray, gray])
    flat = cv2.LUT(gray3, _band_lut(stretch, params.palette, params.levels))
    vivid = cv2.addWeighted(rgb, params.saturation, gray3, 1.0 - params.saturation, 0.0)
    poster = cv2.LUT(vivid, _poster_lut(stretch, params.levels))
    out = cv2.cvtColor(
        cv2.addWeighted(flat, 1.0 - _OVERLAY, poster, _OVERLAY, 0.0), cv2.COLOR_RGB2RGBA
    )
    cv2.insertChannel(alpha, out, 3)
    return out


def _stretch_lut(gray: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """0..255 → [0, 1], mostly the subject's luminance distribution (histogram
    equalisation, so every band covers a fair share of the subject whatever the exposure)
    blended with a plain 2nd-98th percentile stretch, which keeps tonal order readable."""
    mask = cv2.threshold(alpha, 127, 255, cv2.THRESH_BINARY)[1]
    hist = cv2.calcHist([gray], [0], mask, [256], [0, 256]).ravel()
    if hist.sum() == 0:  # nothing opaque: use the whole image
        hist = cv2.calcHist([gray], [0], None, [256], [0, 256]).ravel()
    cdf = np.cumsum(hist) / hist.sum()
    lo = float(np.searchsorted(cdf, 0.02))
    hi = float(np.searchsorted(cdf, 0.98))
    linear = np.clip((np.arange(256) - lo) / max(hi - lo, 1.0), 0.0, 1.0)
    return _EQUALISE * cdf + (1.0 - _EQUALISE) * linear


def _band_lut(stretch: np.ndarray, palette: str, levels: int) -> np.ndarray:
    colours = PALETTES[palette]
    picks = np.round(np.linspace(0, len(colours) - 1, levels)).astype(int)
    table = np.array([hex_to_rgb(colours[i]) for i in picks], dtype=np.uint8)
    bands = np.minimum((stretch * levels).astype(int), levels - 1)
    return table[bands].reshape(256, 1, 3)


def _poster_lut(stretch: np.ndarray, levels: int) -> np.ndarray:
    steps = np.minimum((stretch * levels).astype(int), levels - 1)
    return np.round(steps * 255.0 / (levels - 1)).astype(np.uint8)
