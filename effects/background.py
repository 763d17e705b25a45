"""``background``: put the cut-out on a new background.

Modes: a solid ``color``; ``blur``, the original photo blurred (the subject itself is left
out of the blur, so no halo of its colours surrounds it); or ``image``, a second upload
scaled to cover the frame and centred. An optional soft drop shadow falls below the
subject. The result is opaque (alpha 255 everywhere).
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from effects._image import blur_factor, check_rgb, check_rgba, permille, shrink
from effects._params import PERMILLE, HexColor, Params, hex_to_rgb
from effects.context import EffectContext

_SHADOW_OFFSET = 12.0  # permille, downwards
_SHADOW_SIGMA = 10.0  # permille
_EPS = 0.02  # keeps the normalised blur finite where the subject hides everything


class BackgroundParams(Params):
    mode: Literal["color", "blur", "image"] = Field("color", description="what goes behind")
    color: HexColor = Field("#ffffff", description="the colour for mode color")
    blur_radius: float = Field(
        15.0, ge=1.0, le=100.0, description=f"Gaussian sigma for mode blur, in {PERMILLE}"
    )
    shadow: float = Field(0.0, ge=0.0, le=1.0, description="drop shadow opacity; 0 = none")
    image: str | None = Field(
        None,
        min_length=1,
        max_length=512,
        description="blob key of the second upload for mode image (ingest fills it in)",
    )

    @field_validator("image", mode="after")
    @classmethod
    def _image_iff_mode_image(cls, value: str | None, info: ValidationInfo) -> str | None:
        mode = info.data.get("mode")
        if mode == "image" and value is None:
            raise ValueError("mode 'image' needs a second uploaded image")
        if mode in ("color", "blur") and value is not None:
            raise ValueError(f"an image is only used with mode 'image', not {mode!r}")
        return value

    model_config = Params.model_config | {"validate_default": True}


def apply(rgba: np.ndarray, params: BackgroundParams, ctx: EffectContext) -> np.ndarray:
    check_rgba(rgba)
    h, w = rgba.shape[:2]
    alpha = cv2.extractChannel(rgba, 3)
    if params.mode == "color":
        backdrop: np.ndarray = np.empty((h, w, 4), dtype=np.uint8)
        backdrop[:] = (*hex_to_rgb(params.color), 255)
    elif params.mode == "blur":
        blurred = _blurred_original(ctx, alpha, permille(rgba.shape, params.blur_radius))
        backdrop = cv2.cvtColor(blurred, cv2.COLOR_RGB2RGBA)
    else:
        backdrop = cv2.cvtColor(_cover(ctx, (w, h)), cv2.COLOR_RGB2RGBA)
    if params.shadow > 0:
        _drop_shadow(backdrop, alpha, params.shadow)
    return _over(rgba, alpha, backdrop)


def _over(rgba: np.ndarray, alpha: np.ndarray, backdrop: np.ndarray) -> np.ndarray:
    """``rgba`` composited over the opaque RGBA ``backdrop``: premultiplied subject plus
    backdrop x (1 - alpha), all in 8-bit (at most one level of rounding); alpha ends 255."""
    clear = cv2.bitwise_not(alpha)
    behind = cv2.multiply(backdrop, cv2.merge([clear, clear, clear, clear]), scale=1.0 / 255.0)
    return cv2.add(cv2.cvtColor(rgba, cv2.COLOR_RGBA2mRGBA), behind)


def _blurred_original(ctx: EffectContext, alpha: np.ndarray, sigma: float) -> np.ndarray:
    """The original blurred by normalised convolution with weight 1 - alpha, so only
    background pixels contribute; computed at reduced size (the result is smooth)."""
    if ctx.original is None:
        raise ValueError("background mode 'blur' needs the original photo (ctx.original)")
    check_rgb(ctx.original, "ctx.original")
    if ctx.original.shape[:2] != alpha.shape:
        raise ValueError(
            f"ctx.original is {ctx.original.shape[:2]}, the cut-out {alpha.shape}: "
            "they must be the same size"
        )
    h, w = alpha.shape
    factor = blur_factor(sigma)
    small_sigma = sigma / factor
    original = shrink(ctx.original, factor).astype(np.float32)
    keep = 1.0 - shrink(alpha, factor).astype(np.float32) / np.float32(255.0)
    keep += np.float32(_EPS)
    num = cv2.GaussianBlur(original * keep[:, :, None], (0, 0), small_sigma)
    den = cv2.GaussianBlur(keep, (0, 0), small_sigma)
    small = np.clip(num / den[:, :, None], 0, 255).astype(np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _cover(ctx: EffectContext, size: tuple[int, int]) -> np.ndarray:
    """The second upload scaled to cover ``size`` (w, h) and centred."""
    if ctx.background is None:
        raise ValueError("background mode 'image' needs the second image (ctx.background)")
    check_rgb(ctx.background, "ctx.background")
    w, h = size
    bh, bw = ctx.background.shape[:2]
    scale = max(w / bw, h / bh)
    sw, sh = max(w, round(bw * scale)), max(h, round(bh * scale))
    method = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    scaled = cv2.resize(ctx.background, (sw, sh), interpolation=method)
    x0, y0 = (sw - w) // 2, (sh - h) // 2
    return np.ascontiguousarray(scaled[y0 : y0 + h, x0 : x0 + w])


def _drop_shadow(backdrop: np.ndarray, alpha: np.ndarray, opacity: float) -> None:
    """In place: darken the RGBA ``backdrop`` under a blurred copy of the silhouette moved
    down (its alpha channel stays 255)."""
    h, w = alpha.shape
    offset = permille(alpha.shape, _SHADOW_OFFSET)
    sigma = permille(alpha.shape, _SHADOW_SIGMA)
    factor = blur_factor(sigma)
    small: np.ndarray = shrink(alpha, factor).astype(np.float32) / np.float32(255.0 / opacity)
    shift = np.array([[1, 0, 0], [0, 1, offset / factor]], dtype=np.float32)
    small = cv2.warpAffine(small, shift, (small.shape[1], small.shape[0]))
    small = cv2.GaussianBlur(small, (0, 0), sigma / factor)
    light = cv2.convertScaleAbs(small, alpha=-255.0, beta=255.0)  # 255 (1 - shadow), 8-bit
    light = cv2.resize(light, (w, h), interpolation=cv2.INTER_LINEAR)
    opaque = np.full_like(light, 255)
    cv2.multiply(backdrop, cv2.merge([light, light, light, opaque]), dst=backdrop, scale=1 / 255)
