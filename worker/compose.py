"""The cut-out itself: the photo's colours with the matte as alpha."""

from __future__ import annotations

import numpy as np

from worker.foreground import check_pair, foreground_colours


def compose_cutout(
    image: np.ndarray, alpha: np.ndarray, *, estimate_foreground: bool, device: str
) -> np.ndarray:
    """RGBA uint8 at full size. With ``estimate_foreground`` the colours are the estimated
    foreground's (no fringe of the old background along soft edges), else the photo's.
    ``device`` is a ``CUTOUT_DEVICE`` value (``auto``, ``cpu``, ``cuda``…)."""
    check_pair(image, alpha)
    rgba = np.empty((*alpha.shape, 4), np.uint8)
    if estimate_foreground:
        rgba[..., :3] = foreground_colours(image, alpha, device=device)
    else:
        rgba[..., :3] = image
    rgba[..., 3] = alpha
    return rgba
