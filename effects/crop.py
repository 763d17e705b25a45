"""``crop``: frame the subject.

The frame is the subject's bounding box (pixels at least 10% opaque) plus a margin. With
an aspect ratio, ``fit="contain"`` widens or heightens the frame around the subject (never
cutting it) and ``fit="cover"`` trims it instead: a too-tall subject loses its bottom (pets'
heads are at the top; at least the top third of the subject always stays) and a too-wide one
is trimmed evenly around its centre of mass. Parts of the frame outside the photo are
transparent. ``size`` then scales the result so its long side has that many pixels
(premultiplied, so no dark fringes); a result over 50 MP is scaled down to fit. Alpha
values are kept (only resampled when scaled). An image with no subject is framed whole.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Annotated, Literal

import cv2
import numpy as np
from pydantic import AfterValidator, Field

from effects._image import check_rgba
from effects._params import Params
from effects.context import EffectContext

_SUBJECT_ALPHA = 26  # 10% opacity
#: Largest output; bigger frames are scaled down to fit (the same cap as uploads).
MAX_PIXELS = 50_000_000
_ASPECT = re.compile(r"\s*(\d{1,4})\s*:\s*(\d{1,4})\s*")


def _canonical_aspect(value: str) -> str:
    match = _ASPECT.fullmatch(value)
    if match is None or 0 in (int(match.group(1)), int(match.group(2))):
        raise ValueError(f"{value!r} is not an aspect ratio; use W:H such as 4:5")
    w, h = int(match.group(1)), int(match.group(2))
    g = math.gcd(w, h)
    w, h = w // g, h // g
    if not 1 / 10 <= w / h <= 10:
        raise ValueError(f"aspect {value!r} is outside 1:10 to 10:1")
    return f"{w}:{h}"


Aspect = Annotated[
    str, AfterValidator(_canonical_aspect), Field(json_schema_extra={"pattern": r"^\d+:\d+$"})
]


class CropParams(Params):
    margin: float = Field(0.1, ge=0.0, le=1.0, description="space around the subject, x its size")
    aspect: Aspect | None = Field(default=None, description="W:H such as 4:5; none: the subject's")
    fit: Literal["contain", "cover"] = Field(
        "contain", description="reach the aspect by adding space or by trimming"
    )
    size: int | None = Field(default=None, ge=16, le=8192, description="output long side, px")


@dataclass(frozen=True)
class Frame:
    """A window in source pixels (may extend past the image) and the output size."""

    x0: int
    y0: int
    x1: int
    y1: int
    out_w: int
    out_h: int


def apply(rgba: np.ndarray, params: CropParams, ctx: EffectContext) -> np.ndarray:
    check_rgba(rgba)
    box = frame(rgba, params, ctx.scale(rgba.shape))
    return render(rgba, box, cv2.BORDER_CONSTANT, premultiplied=True)


def reframe(rgba: np.ndarray, params: CropParams, ctx: EffectContext) -> EffectContext:
    """The context for effects that run after this crop: ``ctx.original`` cut to the same
    frame (mirrored past the photo's edges, so a blurred backdrop stays natural)."""
    if ctx.original is None:
        return ctx
    check_rgba(rgba)
    scale = ctx.scale(rgba.shape)
    box = frame(rgba, params, scale)
    original = render(ctx.original, box, cv2.BORDER_REFLECT, premultiplied=False)
    if ctx.full_shape is None:
        return replace(ctx, original=original)
    full_shape = (round(box.out_h / scale), round(box.out_w / scale))
    return replace(ctx, original=original, full_shape=full_shape)


def frame(rgba: np.ndarray, params: CropParams, scale: float = 1.0) -> Frame:
    """Where the crop falls for this cut-out and these parameters (pure geometry); at a
    display ``scale`` the requested ``size`` shrinks with the photo."""
    h, w = rgba.shape[:2]
    alpha = rgba[:, :, 3]
    mask = cv2.threshold(alpha, _SUBJECT_ALPHA - 1, 255, cv2.THRESH_BINARY)[1]
    bx, by, bw, bh = cv2.boundingRect(mask)
    if bw == 0 or bh == 0:
        bx, by, bw, bh = 0, 0, w, h
    pad = params.margin * max(bw, bh)
    x0, y0, x1, y1 = bx - pad, by - pad, bx + bw + pad, by + bh + pad
    if params.aspect is not None:
        aw, ah = (int(v) for v in params.aspect.split(":"))
        centre_x = _centroid_x(mask, bx, bw) if params.fit == "cover" else bx + bw / 2
        x0, y0, x1, y1 = _to_aspect((x0, y0, x1, y1), aw / ah, params.fit, centre_x, bh)
    fw, fh = max(1, round(x1 - x0)), max(1, round(y1 - y0))
    fx0, fy0 = round((x0 + x1 - fw) / 2), round((y0 + y1 - fh) / 2)  # same centre
    out_w, out_h = fw, fh
    if params.size is not None:
        size = max(1, round(params.size * scale))
        zoom = size / max(fw, fh)
        out_w, out_h = max(1, round(fw * zoom)), max(1, round(fh * zoom))
        if params.aspect is not None:  # exact ratio at the requested size
            aw, ah = (int(v) for v in params.aspect.split(":"))
            if aw >= ah:
                out_w, out_h = size, max(1, round(size * ah / aw))
            else:
                out_w, out_h = max(1, round(size * aw / ah)), size
    if out_w * out_h > MAX_PIXELS:  # e.g. 1:10 around a wide subject, or size 8192 at 1:1
        shrink = math.sqrt(MAX_PIXELS / (out_w * out_h))
        out_w, out_h = max(1, int(out_w * shrink)), max(1, int(out_h * shrink))
    return Frame(fx0, fy0, fx0 + fw, fy0 + fh, out_w, out_h)


def _centroid_x(mask: np.ndarray, bx: int, bw: int) -> float:
    moments = cv2.moments(mask, binaryImage=True)
    if moments["m00"] == 0:
        return bx + bw / 2
    return moments["m10"] / moments["m00"]


def _to_aspect(
    box: tuple[float, float, float, float],
    ratio: float,
    fit: str,
    centre_x: float,
    subject_h: float,
) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    if fit == "contain":
        if bw / bh < ratio:
            bw = bh * ratio
        else:
            bh = bw / ratio
        return cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2
    if bw / bh > ratio:  # too wide: trim the sides around the centre of mass
        nw = bh * ratio
        left = min(max(centre_x - nw / 2, x0), x1 - nw)
        return left, y0, left + nw, y1
    nh = max(bw / ratio, subject_h / 3)  # too tall: keep the top, at least its top third
    nw = nh * ratio
    return cx - nw / 2, y0, cx + nw / 2, y0 + nh


def render(image: np.ndarray, box: Frame, border: int, *, premultiplied: bool) -> np.ndarray:
    """Cut ``box`` out of ``image``, scaled to the frame's output size, with the parts past
    the image's edges filled by ``border``. Only the part inside the image is scaled, then
    padded at output size, so a frame mostly outside a photo costs no more than its inside.
    With ``premultiplied`` the last channel is alpha and scaling uses premultiplied colour.
    """
    h, w = image.shape[:2]
    ix0, iy0, ix1, iy1 = max(0, box.x0), max(0, box.y0), min(w, box.x1), min(h, box.y1)
    if ix1 <= ix0 or iy1 <= iy0:  # (OpenCV would pad an empty image forever)
        raise ValueError(f"crop frame {box} does not overlap the {w}x{h} image")
    sx, sy = box.out_w / (box.x1 - box.x0), box.out_h / (box.y1 - box.y0)
    ox0, ox1 = _span(ix0 - box.x0, ix1 - box.x0, sx, box.out_w)
    oy0, oy1 = _span(iy0 - box.y0, iy1 - box.y0, sy, box.out_h)
    scaled = _scale(image[iy0:iy1, ix0:ix1], (ox1 - ox0, oy1 - oy0), premultiplied)
    pads = (oy0, box.out_h - oy1, ox0, box.out_w - ox1)
    if not any(pads):
        return np.ascontiguousarray(scaled)
    return cv2.copyMakeBorder(scaled, *pads, border, value=0)


def _span(start: int, stop: int, scale: float, size: int) -> tuple[int, int]:
    """Where source offsets [start, stop) land at output scale: at least one pixel, inside
    [0, size)."""
    lo = min(round(start * scale), size - 1)
    return lo, min(max(round(stop * scale), lo + 1), size)


def _scale(image: np.ndarray, size: tuple[int, int], premultiplied: bool) -> np.ndarray:
    if size == (image.shape[1], image.shape[0]):
        return image
    method = cv2.INTER_AREA if size[0] < image.shape[1] else cv2.INTER_CUBIC
    if not premultiplied:
        return cv2.resize(image, size, interpolation=method)
    scaled = cv2.resize(cv2.cvtColor(image, cv2.COLOR_RGBA2mRGBA), size, interpolation=method)
    return cv2.cvtColor(scaled, cv2.COLOR_mRGBA2RGBA)
