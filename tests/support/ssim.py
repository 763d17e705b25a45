"""SSIM (Wang et al., 2004) with numpy and scipy: the Gaussian-window form scikit-image's
``structural_similarity(..., gaussian_weights=True, sigma=1.5)`` computes, on 0..255
images; colour images average their channels' SSIM."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2


def ssim(a: np.ndarray, b: np.ndarray, *, sigma: float = 1.5) -> float:
    """Mean SSIM of two same-shape uint8 images (HxW or HxWxC)."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}")
    if a.ndim == 3:
        return float(np.mean([ssim(a[..., c], b[..., c], sigma=sigma) for c in range(a.shape[2])]))
    x, y = a.astype(np.float64), b.astype(np.float64)

    def blur(v: np.ndarray) -> np.ndarray:
        return gaussian_filter(v, sigma, truncate=3.5)

    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    num = (2 * mx * my + _C1) * (2 * cov + _C2)
    den = (mx * mx + my * my + _C1) * (vx + vy + _C2)
    return float(np.mean(num / den))
