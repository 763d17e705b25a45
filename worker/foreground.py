"""Foreground colours for cutouts (used by :mod:`worker.compose`).

Along soft edges (fur, hair) an image's pixels mix the subject with the old background;
copied into a cutout unchanged they leave a fringe of that background. The reference
(transparent-background's RGBA output) runs pymatting's multilevel foreground estimation
(Germer et al., 2020) for this; :func:`estimate_foreground` is the same algorithm in torch,
so it runs on the GPU in production.

Differences from pymatting's CPU code, all small (tests/test_foreground.py measures them):
each iteration updates a band of rows at once from its neighbours' values (pymatting
updates pixel by pixel, in place), and bands are processed top to bottom in place, so a
band sees the updated row above it as pymatting's sweep does. Bands bound the temporary
memory to a few copies of one band, whatever the image size, and keep it in cache.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

from cutout.errors import InvalidInput
from worker.devices import resolve_device

REGULARIZATION = 1e-5
SMALL_ITERATIONS = 10
BIG_ITERATIONS = 2
SMALL_SIZE = 32
#: pixels per band on CPU: a band's temporaries stay in cache (measured on 12 MP: 16 rows
#: of 4000 take 0.55 s an iteration, 64 rows 1.5 s, whole levels 2.3 s); a GPU takes whole
#: levels at once.
CPU_BAND_PIXELS = 1 << 16
#: torch runs an elementwise kernel on the calling thread below this many elements (its
#: parallel grain size, ``at::internal::GRAIN_SIZE``). A small image's estimate (the
#: display rendition's) keeps every kernel of a band under it (:func:`inline_rows`): on
#: the loaded 2-core machine a 800x600 estimate took 1.2-1.7 s of CPU (3.5-6 s wall) with
#: torch's 2 OpenMP threads spinning against the other work, and 0.1-0.2 s inline.
TORCH_GRAIN_SIZE = 32768
#: Levels up to this many pixels keep their bands' :class:`_Terms` (13 float32 planes,
#: 26 MB at most) for the next iteration instead of computing them again: they depend on
#: alpha and the photo alone, and are more than half of an iteration's work. The coarse
#: levels iterate ten times; the display rendition's estimate is all such levels.
KEPT_TERMS_PIXELS = 1 << 19


def foreground_colours(
    image: np.ndarray, alpha: np.ndarray, *, device: str = "cpu", inline: bool = False
) -> np.ndarray:
    """The estimated foreground colours as RGB uint8 (rounded, as the reference does), for
    an RGB uint8 HxWx3 ``image`` and uint8 HxW ``alpha``; ``device`` as ``CUTOUT_DEVICE``.
    ``inline`` (CPU only) keeps the per-band kernels on the calling thread, for small
    images, where waking torch's threads costs more than it saves (narrower bands: the
    in-place sweep differs from the default by rounding)."""
    check_pair(image, alpha)
    with torch.inference_mode():
        dev = resolve_device(device)
        pixels = torch.from_numpy(_writeable(image)).to(dev).permute(2, 0, 1).contiguous()
        matte = torch.from_numpy(_writeable(alpha)).to(dev).unsqueeze(0)
        fb = estimate_foreground(pixels, matte, inline=inline and dev.type == "cpu")
        colours = fb[:3].mul_(255).add_(0.5).to(torch.uint8)
        return colours.permute(1, 2, 0).contiguous().cpu().numpy()


def estimate_foreground(
    image: torch.Tensor, alpha: torch.Tensor, *, inline: bool = False
) -> torch.Tensor:
    """Multilevel foreground (and background) estimation.

    ``image`` is 3xHxW uint8, ``alpha`` 1xHxW uint8, on any device. Returns 6xHxW
    float32 in 0..1 on that device: the foreground colours in ``[:3]``, the background's
    in ``[3:]``. Channels come first so that every elementwise kernel runs along rows.
    ``inline`` (CPU) bands every level by :func:`inline_rows` (narrower bands: differences
    of rounding).
    """
    height, width = alpha.shape[1:]
    band = CPU_BAND_PIXELS if image.device.type == "cpu" else height * width
    fb = _mean_colours(image, alpha, max(1, 16 * band // width)).view(6, 1, 1)
    levels = math.ceil(math.log2(max(width, height))) if max(width, height) > 1 else 0
    for level in range(levels + 1):
        w = round(width ** (level / levels)) if levels else width
        h = round(height ** (level / levels)) if levels else height
        fb = _resize_nearest(fb, h, w)
        level_image = _resize_nearest(image, h, w)
        level_alpha = _resize_nearest(alpha, h, w)
        iterations = SMALL_ITERATIONS if w <= SMALL_SIZE and h <= SMALL_SIZE else BIG_ITERATIONS
        rows = inline_rows(w) if inline else max(1, band // w)
        keep = iterations > 1 and h * w <= KEPT_TERMS_PIXELS
        kept: dict[int, _Terms] = {}
        for _ in range(iterations):
            for top in range(0, h, rows):
                bottom = min(h, top + rows)
                terms = kept.get(top)
                if terms is None:
                    terms = _terms(_with_halo(level_alpha, top, bottom), level_image[:, top:bottom])
                    if keep:
                        kept[top] = terms
                fb[:, top:bottom] = _update(terms, _with_halo(fb, top, bottom))
    return fb


def inline_rows(width: int) -> int:
    """The most rows a band of a level ``width`` wide may have for its kernels to run on
    the calling thread: the largest tensor is the band's six channels with a halo row and
    column on each side. Bands as wide as that (11 rows at 400 px; 7 with the fixed 3072
    pixels they had before) took a quarter-size display estimate from 0.065 to 0.049 s."""
    return max(1, TORCH_GRAIN_SIZE // (6 * (width + 2)) - 2)


def _with_halo(t: torch.Tensor, top: int, bottom: int) -> torch.Tensor:
    """Rows ``top - 1 : bottom + 1`` of CxHxW ``t``, repeating the edge row past an edge."""
    height = t.shape[1]
    parts = [t[:, max(top - 1, 0) : min(bottom + 1, height)]]
    if top == 0:
        parts.insert(0, t[:, :1])
    if bottom == height:
        parts.append(t[:, height - 1 :])
    return torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]


class _Terms(NamedTuple):
    """What one iteration of a band computes from its alpha and colours alone, the same
    in every iteration: the four neighbours' weights, the 2x2 system's entries and its
    inverse determinant, and the colours as floats."""

    neighbours: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
    a0: torch.Tensor
    a1: torch.Tensor
    a00: torch.Tensor
    a11: torch.Tensor
    a01: torch.Tensor
    inv_det: torch.Tensor
    colours: torch.Tensor


def _terms(alpha: torch.Tensor, image: torch.Tensor) -> _Terms:
    """A band's :class:`_Terms`, from ``alpha`` (1xR+2xW uint8) with the rows above and
    below (the image's edge replicated, as pymatting clamps) and ``image`` (3xRxW uint8)."""
    a = alpha.float().div_(255)
    a = torch.cat([a[:, :, :1], a, a[:, :, -1:]], dim=2)
    a0 = a[:, 1:-1, 1:-1]
    a1 = 1.0 - a0
    up, down, left, right = (
        torch.sub(a0, n).abs_().add_(REGULARIZATION)
        for n in (a[:, :-2, 1:-1], a[:, 2:, 1:-1], a[:, 1:-1, :-2], a[:, 1:-1, 2:])
    )
    total = up + down + left + right
    a00 = a0 * a0 + total
    a11 = a1 * a1 + total
    a01 = a0 * a1
    inv_det = (a00 * a11).sub_(a01 * a01).reciprocal_()
    colours = image.float().div_(255)
    return _Terms((up, down, left, right), a0, a1, a00, a11, a01, inv_det, colours)


def _update(terms: _Terms, fb: torch.Tensor) -> torch.Tensor:
    """One iteration for a band of rows: ``fb`` (6xR+2xW) with the rows above and below.
    Returns the band's new 6xRxW foreground and background."""
    up, down, left, right = terms.neighbours
    p = torch.cat([fb[:, :, :1], fb, fb[:, :, -1:]], dim=2)
    s = up * p[:, :-2, 1:-1]
    s.addcmul_(down, p[:, 2:, 1:-1]).addcmul_(left, p[:, 1:-1, :-2])
    s.addcmul_(right, p[:, 1:-1, 2:])
    b0 = s[:3].addcmul_(terms.a0, terms.colours)  # a0·I + Σ da·F_j
    b1 = s[3:].addcmul_(terms.a1, terms.colours)  # a1·I + Σ da·B_j
    fg = (terms.a11 * b0).sub_(terms.a01 * b1).mul_(terms.inv_det).clamp_(0, 1)
    bg = (terms.a00 * b1).sub_(terms.a01 * b0).mul_(terms.inv_det).clamp_(0, 1)
    return torch.cat([fg, bg])


def _resize_nearest(t: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """pymatting's nearest-neighbour resize of CxHxW: source index ``dst * src // dst``."""
    src_h, src_w = t.shape[1:]
    if (src_h, src_w) == (h, w):
        return t
    ys = torch.arange(h, device=t.device) * src_h // h
    xs = torch.arange(w, device=t.device) * src_w // w
    rows = t.index_select(1, ys)  # whole rows: a memcpy each
    return torch.gather(rows, 2, xs.view(1, 1, w).expand(t.shape[0], h, w))  # 8x index_select


def _mean_colours(image: torch.Tensor, alpha: torch.Tensor, rows: int) -> torch.Tensor:
    """Mean colour where alpha > 0.9 and where alpha < 0.1 (pymatting's initial F and B)."""
    sums = torch.zeros(3, 2, dtype=torch.float64, device=image.device)
    for top in range(0, alpha.shape[1], rows):
        band = alpha[0, top : top + rows].reshape(-1)
        masks = torch.stack([band > 0.9 * 255, band < 0.1 * 255], dim=1).float()
        sums += (image[:, top : top + rows].reshape(3, -1).float() @ masks).double()
    counts = (alpha > 0.9 * 255).sum(), (alpha < 0.1 * 255).sum()
    fg = sums[:, 0] / 255 / (counts[0] + 1e-5)
    bg = sums[:, 1] / 255 / (counts[1] + 1e-5)
    return torch.cat([fg, bg]).float()


def check_pair(image: np.ndarray, alpha: np.ndarray) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InvalidInput(f"expected an RGB uint8 HxWx3 image, got {image.dtype} {image.shape}")
    if alpha.dtype != np.uint8 or alpha.shape != image.shape[:2]:
        raise InvalidInput(
            f"expected a uint8 alpha of shape {image.shape[:2]}, got {alpha.dtype} {alpha.shape}"
        )


def _writeable(a: np.ndarray) -> np.ndarray:
    return a if a.flags.writeable and a.flags.c_contiguous else np.ascontiguousarray(a).copy()
