"""``blackwhite``: a film black-and-white print of the cut-out.

Tri-X-like channel weights, a film S-curve, an unsharp mask that works hardest in the
midtones, halation (a glow bleeding out of highlights) and grain that is stronger in the
shadows. Alpha is preserved exactly; equal seeds give identical grain.
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np
from pydantic import Field

from effects._image import blur_factor, check_rgba, full_pixels, gray_rgba, permille, shrink
from effects._params import PERMILLE, Params, Seed
from effects.context import EffectContext

#: Panchromatic film's response to red, green and blue, roughly Kodak Tri-X.
WEIGHTS = (0.18, 0.72, 0.10)
_HIGHLIGHT = 0.75  # luminance above which halation starts
_SHARPEN_SIGMA = 0.35  # permille
_HALATION_SIGMA = 12.0  # permille
#: Grain grids up to this many cells (32 MB of float32) are kept for the next rendition:
#: the display and full renditions of a photo share the full rendition's grid, and phone
#: photos come in few sizes. Drawing a 12 MP photo's 2000x1500 grid took 0.03 s, 40% of
#: the display rendition's blackwhite.
_KEPT_GRAIN_CELLS = 8_000_000


class BlackWhiteParams(Params):
    contrast: float = Field(1.0, ge=0.0, le=2.0, description="film S-curve strength; 0 = linear")
    sharpen: float = Field(0.6, ge=0.0, le=3.0, description="unsharp mask, strongest in midtones")
    halation: float = Field(0.3, ge=0.0, le=1.0, description="glow around highlights")
    grain: float = Field(0.35, ge=0.0, le=1.0, description="grain strength, more in shadows")
    grain_size: float = Field(0.5, ge=0.1, le=5.0, description=f"grain size in {PERMILLE}")
    seed: Seed = 0


def apply(rgba: np.ndarray, params: BlackWhiteParams, ctx: EffectContext) -> np.ndarray:
    check_rgba(rgba)
    r, g, b, alpha = cv2.split(rgba)
    wr, wg, wb = WEIGHTS
    mix: np.ndarray = cv2.addWeighted(r, wr, g, wg, 0.0, dtype=cv2.CV_32F)
    luma = cv2.convertScaleAbs(cv2.addWeighted(mix, 1.0, b, wb, 0.0, dtype=cv2.CV_32F))
    curve = _s_curve(params.contrast)
    y: np.ndarray = cv2.LUT(luma, curve.reshape(1, 256))  # float32 in [0, 1]
    if params.sharpen > 0:
        _sharpen(y, luma, curve, params.sharpen, permille(rgba.shape, _SHARPEN_SIGMA))
    if params.halation > 0:
        _halation(y, luma, curve, params.halation, permille(rgba.shape, _HALATION_SIGMA))
    if params.grain > 0:
        size = full_pixels(rgba.shape, params.grain_size, ctx.full_shape)
        _grain(y, params.grain, size, ctx.full_shape or y.shape, params.seed)
    gray = cv2.addWeighted(y, 255.0, y, 0.0, 0.0, dtype=cv2.CV_8U)  # rounds, saturates
    return gray_rgba(gray, alpha)


def _s_curve(contrast: float) -> np.ndarray:
    """The film response for each 8-bit luminance: a logistic curve through (0, 0),
    (0.5, 0.5) and (1, 1), with toe and shoulder; float32, 256 entries."""
    x = np.arange(256, dtype=np.float64) / 255.0
    if contrast == 0:
        return x.astype(np.float32)
    k = 5.0 * contrast
    lo = 1.0 / (1.0 + math.exp(k / 2))
    curve = (1.0 / (1.0 + np.exp(-k * (x - 0.5))) - lo) / (1.0 - 2.0 * lo)
    return curve.astype(np.float32)


def _sharpen(
    y: np.ndarray, luma: np.ndarray, curve: np.ndarray, amount: float, sigma: float
) -> None:
    """In place: add ``amount`` of the high-pass of the luminance, carried through the
    curve's slope and weighted by 4 y (1 - y) so midtones sharpen most."""
    slope = np.gradient(curve.astype(np.float64))  # output per input level
    weight = amount * 4.0 * curve * (1.0 - curve) * slope
    detail = cv2.subtract(luma, cv2.GaussianBlur(luma, (0, 0), max(sigma, 0.6)), dtype=cv2.CV_32F)
    cv2.multiply(detail, cv2.LUT(luma, weight.astype(np.float32).reshape(1, 256)), dst=detail)
    cv2.add(y, detail, dst=y)


def _halation(
    y: np.ndarray, luma: np.ndarray, curve: np.ndarray, strength: float, sigma: float
) -> None:
    """In place: blur what is above the highlight threshold (at reduced size: the glow is
    smooth) and screen it back on."""
    h, w = y.shape
    above = np.maximum(curve - _HIGHLIGHT, 0.0) * (strength / (1.0 - _HIGHLIGHT))
    highlights = cv2.LUT(luma, above.astype(np.float32).reshape(1, 256))
    factor = blur_factor(sigma)
    small = cv2.GaussianBlur(
        shrink(highlights, factor), (0, 0), sigma / factor, borderType=cv2.BORDER_REFLECT
    )
    glow = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    # screen: 1 - (1 - y)(1 - glow) = y + glow (1 - y); buffers reused (fresh 48 MB
    # arrays cost page faults)
    shade = np.subtract(np.float32(1.0), y, out=highlights)
    cv2.multiply(shade, glow, dst=glow)
    cv2.add(y, glow, dst=y)


def _grain(
    y: np.ndarray, strength: float, size: float, full_shape: tuple[int, ...], seed: int
) -> None:
    """In place: Gaussian grain of about ``size`` full-resolution pixels whose amplitude
    rises into the shadows. The grain grid is the full rendition's (``full_shape``), so a
    smaller rendition gets the same grain, area-averaged as a downscale would. Grain is
    drawn at grain resolution and scaled up, its amplitude judged on the grain's own scale.
    Where the grid is finer than the image (a smaller rendition), the grid is averaged down
    to the image once and kept, and the amplitude judged at the image's pixels: the tone
    the grid would see is the image's, enlarged, so the picture moves by at most 4 levels
    in 6% of the pixels, and a 1600x1200 display rendition's blackwhite takes 0.029 s of
    CPU instead of 0.048 s."""
    h, w = y.shape
    step = max(1.0, size)
    grid = (math.ceil(full_shape[1] / step), math.ceil(full_shape[0] / step))
    if grid[0] * grid[1] > h * w:
        y += _amplitude(y, strength, step) * _averaged_noise(seed, grid, (w, h))
        return
    tone = _resize(y, grid) if grid != (w, h) else y
    amplitude = _amplitude(tone, strength, step) * _noise(seed, grid[1], grid[0])
    y += _resize(amplitude, (w, h)) if grid != (w, h) else amplitude


def _amplitude(tone: np.ndarray, strength: float, step: float) -> np.ndarray:
    """The grain's standard deviation for each tone: strongest in the shadows."""
    amplitude: np.ndarray = 1.0 - tone
    np.clip(amplitude, 0.0, 1.0, out=amplitude)
    amplitude *= np.float32(0.7)
    amplitude += np.float32(0.3)
    amplitude *= np.float32(0.12 * strength * min(2.0, step) ** 0.5)  # offsets interpolation
    return amplitude


def _noise(seed: int, rows: int, cols: int) -> np.ndarray:
    """Standard normal float32 noise of that shape, the same for the same seed; the last
    two grids up to :data:`_KEPT_GRAIN_CELLS` are kept (read-only)."""
    if rows * cols > _KEPT_GRAIN_CELLS:
        return _draw_noise(seed, rows, cols)
    return _kept_noise(seed, rows, cols)


def _draw_noise(seed: int, rows: int, cols: int) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal((rows, cols), dtype=np.float32)
    noise.flags.writeable = False
    return noise


_kept_noise = functools.lru_cache(maxsize=2)(_draw_noise)


def _averaged_noise(seed: int, grid: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """The noise of a ``grid`` (columns, rows) area-averaged to ``size`` (width, height);
    the last two up to :data:`_KEPT_GRAIN_CELLS` are kept (read-only)."""
    if size[0] * size[1] > _KEPT_GRAIN_CELLS:
        return _average_noise(seed, grid, size)
    return _kept_averaged_noise(seed, grid, size)


def _average_noise(seed: int, grid: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    averaged = _resize(_noise(seed, grid[1], grid[0]), size)
    averaged.flags.writeable = False
    return averaged


_kept_averaged_noise = functools.lru_cache(maxsize=2)(_average_noise)


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area averaging down, bilinear up (the grain's scaling both ways)."""
    down = size[0] * size[1] < image.shape[0] * image.shape[1]
    method = cv2.INTER_AREA if down else cv2.INTER_LINEAR
    return cv2.resize(image, size, interpolation=method)
