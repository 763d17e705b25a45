"""Floyd-Steinberg error diffusion, compiled with numba.

Error diffusion is inherently serial (each cell depends on the errors of the cells before
it), so it cannot be vectorised; numba compiles the loop once per process (``cache=True``
keeps the machine code on disk beside this module so later processes skip compiling).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _diffuse(values: np.ndarray, levels: int) -> np.ndarray:  # pragma: no cover - compiled
    h, w = values.shape
    work = values.astype(np.float64)
    out = np.zeros((h, w), dtype=np.uint8)
    top = levels - 1
    for y in range(h):
        forward = y % 2 == 0
        for i in range(w):
            x = i if forward else w - 1 - i
            step = 1 if forward else -1
            v = work[y, x]
            q = np.floor(v * top + 0.5)
            q = min(max(q, 0.0), float(top))
            out[y, x] = np.uint8(q)
            err = v - q / top
            if 0 <= x + step < w:
                work[y, x + step] += err * (7.0 / 16.0)
            if y + 1 < h:
                if 0 <= x - step < w:
                    work[y + 1, x - step] += err * (3.0 / 16.0)
                work[y + 1, x] += err * (5.0 / 16.0)
                if 0 <= x + step < w:
                    work[y + 1, x + step] += err * (1.0 / 16.0)
    return out


def floyd_steinberg(values: np.ndarray, levels: int) -> np.ndarray:
    """Quantise ``values`` (2-D, nominally in [0, 1]) to ``levels`` evenly spaced levels,
    diffusing each cell's error to its unvisited neighbours (7/16, 3/16, 5/16, 1/16) in
    serpentine order (rows alternate direction, which avoids the worm artefacts of plain
    raster order). Returns the level index of each cell as uint8; deterministic."""
    if values.ndim != 2:
        raise ValueError(f"error diffusion takes a 2-D array, got shape {values.shape}")
    if not 2 <= levels <= 256:
        raise ValueError(f"levels must be in 2..256, got {levels}")
    return _diffuse(np.ascontiguousarray(values), levels)
