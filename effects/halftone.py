"""``halftone``: black dots on white, like a newspaper print of the cut-out.

The photo is averaged onto a square grid (one cell per dot), given a tone curve and an
edge boost, and each cell's darkness is quantised to one of a few dot sizes by
Floyd-Steinberg error diffusion (so tones between the sizes come out right on average).
Every dot is drawn anti-aliased, with area proportional to its level. Where the cut-out
is transparent the paper is white; alpha is preserved exactly.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from pydantic import Field

from effects._diffusion import floyd_steinberg
from effects._image import area_average, check_rgba, full_pixels, gray_rgba
from effects._params import PERMILLE, Params
from effects.context import EffectContext

DOT_LEVELS = 6  # no dot, then five sizes
_MIN_SPACING_PX = 3
_SUPERSAMPLE = 4


class HalftoneParams(Params):
    spacing: float = Field(8.0, ge=2.0, le=50.0, description=f"dot pitch in {PERMILLE}")
    dot_size: float = Field(
        1.2, ge=0.3, le=1.42, description="diameter of the largest dot over the pitch"
    )
    gamma: float = Field(0.85, ge=0.3, le=3.0, description="tone curve: above 1 darker")
    edges: float = Field(0.6, ge=0.0, le=2.0, description="darkening along edges")


def apply(rgba: np.ndarray, params: HalftoneParams, ctx: EffectContext) -> np.ndarray:
    check_rgba(rgba)
    h, w = rgba.shape[:2]
    # the full rendition's whole-pixel pitch, at this rendition's scale (fractional below 1)
    full_pitch = max(
        _MIN_SPACING_PX, round(full_pixels(rgba.shape, params.spacing, ctx.full_shape))
    )
    pitch = full_pitch * ctx.scale(rgba.shape)
    alpha = rgba[:, :, 3]
    tone = _tone_grid(rgba, pitch)
    if params.gamma != 1.0:
        tone = np.power(tone, np.float32(params.gamma))
    darkness = 1.0 - tone
    if params.edges > 0:
        gx = cv2.Sobel(tone, cv2.CV_32F, 1, 0, ksize=3, scale=0.25, borderType=cv2.BORDER_REPLICATE)
        gy = cv2.Sobel(tone, cv2.CV_32F, 0, 1, ksize=3, scale=0.25, borderType=cv2.BORDER_REPLICATE)
        darkness += np.float32(params.edges) * cv2.magnitude(gx, gy)
    levels = floyd_steinberg(np.clip(darkness, 0.0, 1.0), DOT_LEVELS)
    tile = math.ceil(pitch)  # dots drawn at whole pixels, then fitted to the pitch
    tiles = dot_tiles(tile, params.dot_size)
    grid_h, grid_w = levels.shape
    paper = tiles[levels].transpose(0, 2, 1, 3).reshape(grid_h * tile, grid_w * tile)
    paper = area_average(paper, round(grid_w * pitch), round(grid_h * pitch))
    return gray_rgba(np.ascontiguousarray(paper[:h, :w]), alpha)


def _tone_grid(rgba: np.ndarray, pitch: float) -> np.ndarray:
    """Mean luminance per cell (float32 in [0, 1]) of the cut-out laid on white paper."""
    h, w = rgba.shape[:2]
    gray = cv2.cvtColor(rgba, cv2.COLOR_RGBA2GRAY)
    alpha = rgba[:, :, 3]
    on_paper = cv2.add(cv2.multiply(gray, alpha, scale=1.0 / 255.0), cv2.bitwise_not(alpha))
    grid_h, grid_w = math.ceil(h / pitch), math.ceil(w / pitch)
    padded = cv2.copyMakeBorder(
        on_paper,
        0,
        round(grid_h * pitch) - h,
        0,
        round(grid_w * pitch) - w,
        cv2.BORDER_REPLICATE,
    )
    grid = cv2.resize(padded, (grid_w, grid_h), interpolation=cv2.INTER_AREA)
    return grid.astype(np.float32) / np.float32(255.0)


def dot_tiles(pitch: int, dot_size: float) -> np.ndarray:
    """``DOT_LEVELS`` anti-aliased pitchxpitch tiles, white paper with a black dot whose
    area grows linearly with the level (level 0: no dot)."""
    n = pitch * _SUPERSAMPLE
    centres = (np.arange(n, dtype=np.float64) + 0.5) / _SUPERSAMPLE - pitch / 2.0
    dist2 = centres[:, None] ** 2 + centres[None, :] ** 2
    tiles = np.empty((DOT_LEVELS, pitch, pitch), dtype=np.uint8)
    for level in range(DOT_LEVELS):
        radius = dot_size * pitch / 2.0 * math.sqrt(level / (DOT_LEVELS - 1))
        inside = (dist2 < radius * radius).astype(np.float64)
        cover = inside.reshape(pitch, _SUPERSAMPLE, pitch, _SUPERSAMPLE).mean(axis=(1, 3))
        tiles[level] = np.round(255.0 * (1.0 - cover)).astype(np.uint8)
    return tiles
