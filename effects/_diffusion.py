"""Floyd-Steinberg error diffusion, vectorised along wavefronts.

Error diffusion looks serial: each cell needs the errors of the cells before it. In
raster order cell (y, x) depends only on (y, x-1) and on (y-1, x-1 .. x+1), so all cells
with the same t = x + 2y are independent and one numpy step handles them together. In a
skewed copy where row t holds that wavefront, every step and all four error pushes are
contiguous slices: h + w steps instead of h x w Python iterations, no JIT compiler, no
first-call compile. Errors are added in the same order as the serial loop, so the result
is bit-identical to it (tests/test_effects_diffusion.py checks against a plain loop).
"""

from __future__ import annotations

import numpy as np


def floyd_steinberg(values: np.ndarray, levels: int) -> np.ndarray:
    """Quantise ``values`` (2-D, nominally in [0, 1]) to ``levels`` evenly spaced levels,
    pushing each cell's error to its unvisited neighbours (right 7/16, below-left 3/16,
    below 5/16, below-right 1/16) in raster order. Returns each cell's level index as
    uint8; deterministic, and ``values`` is not modified."""
    if values.ndim != 2:
        raise ValueError(f"error diffusion takes a 2-D array, got shape {values.shape}")
    if not 2 <= levels <= 256:
        raise ValueError(f"levels must be in 2..256, got {levels}")
    h, w = values.shape
    top = levels - 1
    ys, xs = np.indices((h, w))
    fronts = xs + 2 * ys
    # skewed[t, y] is cell (y, t - 2y); the spare rows and column catch pushes past the
    # image's right and bottom edges (those slots are never read back as cells).
    skewed = np.zeros((w + 2 * h + 2, h + 1), dtype=np.float64)
    skewed[fronts, ys] = values
    quantised = np.zeros_like(skewed)
    for t in range(w + 2 * h - 2):
        lo, hi = max(0, (t - w + 2) // 2), min(h - 1, t // 2) + 1
        old = skewed[t, lo:hi]
        q = np.clip(np.floor(old * top + 0.5), 0, top)
        quantised[t, lo:hi] = q
        err = old - q / top
        below = slice(lo + 1, hi + 1)
        skewed[t + 1, below] += err * (3.0 / 16.0)  # below-left; before "right", as serially
        skewed[t + 1, lo:hi] += err * (7.0 / 16.0)  # right
        skewed[t + 2, below] += err * (5.0 / 16.0)  # below
        skewed[t + 3, below] += err * (1.0 / 16.0)  # below-right
    return quantised[fronts, ys].astype(np.uint8)
