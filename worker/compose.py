"""The cut-out itself: the photo's colours with the matte as alpha."""

from __future__ import annotations

import cv2
import numpy as np

from worker.foreground import check_pair, foreground_colours


def compose_cutout(
    image: np.ndarray,
    alpha: np.ndarray,
    *,
    estimate_foreground: bool,
    device: str,
    foreground_scale: float = 1.0,
) -> np.ndarray:
    """RGBA uint8 at the image's size. With ``estimate_foreground`` the colours are the
    estimated foreground's (no fringe of the old background along soft edges), else the
    photo's. ``device`` is a ``CUTOUT_DEVICE`` value (``auto``, ``cpu``, ``cuda``…).
    ``foreground_scale`` < 1 estimates at that scale and scales the colours back up, used
    only where the matte is not opaque (the display rendition: its fringe is a pixel or
    two wide, and the estimate costs a quarter at half size)."""
    check_pair(image, alpha)
    rgba = np.empty((*alpha.shape, 4), np.uint8)
    rgba[..., :3] = image
    if estimate_foreground and foreground_scale >= 1.0:
        rgba[..., :3] = foreground_colours(image, alpha, device=device)
    elif estimate_foreground:
        h, w = alpha.shape
        size = (max(2, round(w * foreground_scale)), max(2, round(h * foreground_scale)))
        small = foreground_colours(
            cv2.resize(image, size, interpolation=cv2.INTER_AREA),
            cv2.resize(alpha, size, interpolation=cv2.INTER_AREA),
            device=device,
        )
        colours = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        edge = alpha < 255
        rgba[edge, :3] = colours[edge]
    rgba[..., 3] = alpha
    return rgba
