"""Nearest palette colour in OKLab, a perceptual colour space where Euclidean distance
tracks how different two colours look (Bjorn Ottosson, 2020).

Matching millions of cells against a palette directly costs an N x K distance matrix;
instead a table answers every colour of a 5-bit-per-channel RGB grid once (32768 entries,
bins 8 levels wide, far finer than any palette's spacing), and cells are looked up in it.
"""

from __future__ import annotations

import numpy as np

BITS = 5
_SHIFT = 8 - BITS

_LMS = np.array(
    [
        [0.4122214708, 0.5363325363, 0.0514459929],
        [0.2119034982, 0.6806995451, 0.1073969566],
        [0.0883024619, 0.2817188376, 0.6299787005],
    ]
)
_LAB = np.array(
    [
        [0.2104542553, 0.7936177850, -0.0040720468],
        [1.9779984951, -2.4285922050, 0.4505937099],
        [0.0259040371, 0.7827717662, -0.8086757660],
    ]
)


def srgb_to_oklab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) sRGB values in [0, 255] -> (..., 3) OKLab (L in [0, 1]) as float64."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return np.cbrt(linear @ _LMS.T) @ _LAB.T


def nearest(lab: np.ndarray, palette_lab: np.ndarray) -> np.ndarray:
    """Index (uint8) of the palette colour nearest to each of ``lab`` (..., 3); ties go to
    the lower index."""
    flat = lab.reshape(-1, 3)
    dist = (palette_lab**2).sum(axis=1)[None, :] - 2.0 * (flat @ palette_lab.T)
    return dist.argmin(axis=1).astype(np.uint8).reshape(lab.shape[:-1])


def palette_table(palette: np.ndarray) -> np.ndarray:
    """For a (K, 3) uint8 palette: the nearest palette index of each bin centre of the
    5-bit RGB grid, as a flat uint8 table for :func:`lookup`."""
    centres = (np.arange(1 << BITS) << _SHIFT) + (1 << _SHIFT) // 2
    grid = np.stack(np.meshgrid(centres, centres, centres, indexing="ij"), axis=-1)
    return nearest(srgb_to_oklab(grid.reshape(-1, 3)), srgb_to_oklab(palette))


def lookup(table: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Palette index (uint8) for each of ``rgb`` (..., 3), values in [0, 255] (clipped)."""
    q = (np.clip(rgb, 0, 255).astype(np.uint16) >> _SHIFT).astype(np.intp)
    return table[(q[..., 0] << (2 * BITS)) | (q[..., 1] << BITS) | q[..., 2]]
