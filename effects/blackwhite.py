"""``blackwhite``: a film black-and-white print of the cut-out.

Tri-X-like channel weights, a film S-curve, an unsharp mask that works hardest in the
midtones, halation (a glow bleeding out of highlights) and grain that is stronger in the
shadows. Alpha is preserved exactly; equal seeds give identical grain.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from pydantic import Field

from effects._image import check_rgba, gray_rgba, permille, wide_blur
from effects._params import PERMILLE, Params, Seed
from effects.context import EffectContext

#: Panchromatic film's response to red, green and blue, roughly Kodak Tri-X.
WEIGHTS = (0.18, 0.72, 0.10)
_HIGHLIGHT = 0.75  # luminance above which halation starts
_SHARPEN_SIGMA = 0.35  # permille
_HALATION_SIGMA = 12.0  # permille


class BlackWhiteParams(Params):
    contrast: float = Field(1.0, ge=0.0, le=2.0, description="film S-curve strength; 0 = flat")
    sharpen: float = Field(0.6, ge=0.0, le=3.0, description="unsharp mask, strongest in midtones")
    halation: float = Field(0.3, ge=0.0, le=1.0, description="glow around highlights")
    grain: float = Field(0.35, ge=0.0, le=1.0, description="grain strength, more in shadows")
    grain_size: float = Field(0.5, ge=0.1, le=5.0, description=f"grain size in {PERMILLE}")
    seed: Seed = 0


def apply(rgba: np.ndarray, params: BlackWhiteParams, ctx: EffectContext) -> np.ndarray:
    check_rgba(rgba)
    r, g, b, alpha = cv2.split(rgba)
    wr, wg, wb = (w / 255.0 for w in WEIGHTS)
    y = cv2.addWeighted(r, wr, g, wg, 0.0, dtype=cv2.CV_32F)
    y = cv2.addWeighted(y, 1.0, b, wb, 0.0, dtype=cv2.CV_32F)
    if params.contrast > 0:
        y = _s_curve(y, params.contrast)
    if params.sharpen > 0:
        _sharpen(y, params.sharpen, permille(rgba.shape, _SHARPEN_SIGMA))
    if params.halation > 0:
        _halation(y, params.halation, permille(rgba.shape, _HALATION_SIGMA))
    if params.grain > 0:
        _grain(y, params.grain, permille(rgba.shape, params.grain_size), params.seed)
    np.clip(y, 0.0, 1.0, out=y)
    return gray_rgba(cv2.convertScaleAbs(y, alpha=255.0), alpha)


def _s_curve(y: np.ndarray, contrast: float) -> np.ndarray:
    """A logistic curve through (0, 0), (0.5, 0.5) and (1, 1): toe and shoulder like film."""
    k = 5.0 * contrast
    lo = 1.0 / (1.0 + math.exp(k / 2))
    hi = 1.0 - lo
    t = cv2.exp(y * np.float32(-k) + np.float32(k / 2))
    t += 1.0
    np.reciprocal(t, out=t)
    t -= lo
    t *= 1.0 / (hi - lo)
    return t


def _sharpen(y: np.ndarray, amount: float, sigma: float) -> None:
    """In place: add back ``amount`` of the high-pass, weighted by 4 y (1 - y)."""
    detail = cv2.GaussianBlur(y, (0, 0), max(sigma, 0.6))
    np.subtract(y, detail, out=detail)
    weight = 1.0 - y
    weight *= y
    weight *= np.float32(4.0 * amount)
    detail *= weight
    y += detail


def _halation(y: np.ndarray, strength: float, sigma: float) -> None:
    """In place: blur what is above the highlight threshold and screen it back on."""
    glow = y - np.float32(_HIGHLIGHT)
    np.maximum(glow, 0.0, out=glow)
    glow = wide_blur(glow, max(sigma, 1.0))
    glow *= np.float32(-strength / (1.0 - _HIGHLIGHT))
    glow += 1.0
    # screen: 1 - (1 - y) * (1 - strength * glow)
    np.subtract(1.0, y, out=y)
    y *= glow
    np.subtract(1.0, y, out=y)


def _grain(y: np.ndarray, strength: float, size: float, seed: int) -> None:
    """In place: Gaussian grain of about ``size`` pixels, amplitude rising into shadows."""
    h, w = y.shape
    step = max(1.0, size)
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((math.ceil(h / step), math.ceil(w / step)), dtype=np.float32)
    if step > 1.0:
        noise = cv2.resize(noise, (w, h), interpolation=cv2.INTER_LINEAR)
        noise *= np.float32(min(2.0, step) ** 0.5)  # interpolation lowers the variance
    amplitude = 1.0 - y
    np.clip(amplitude, 0.0, 1.0, out=amplitude)
    amplitude *= np.float32(0.7)
    amplitude += np.float32(0.3)
    amplitude *= np.float32(0.12 * strength)
    amplitude *= noise
    y += amplitude
