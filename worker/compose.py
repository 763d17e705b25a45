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
    if estimate_foreground and foreground_scale >= 1.0:
        colours = foreground_colours(image, alpha, device=device)
    elif estimate_foreground:
        colours = _edge_colours(image, alpha, foreground_scale, device)
    else:
        colours = image
    return cv2.merge([colours, alpha])


def _edge_colours(image: np.ndarray, alpha: np.ndarray, scale: float, device: str) -> np.ndarray:
    """The photo's colours, with the foreground estimated at ``scale`` (scaled back up)
    wherever alpha is below 255."""
    h, w = alpha.shape
    size = (max(2, round(w * scale)), max(2, round(h * scale)))
    small = foreground_colours(
        cv2.resize(image, size, interpolation=cv2.INTER_AREA),
        cv2.resize(alpha, size, interpolation=cv2.INTER_AREA),
        device=device,
        inline=True,
    )
    colours = image.copy()
    edge = cv2.threshold(alpha, 254, 255, cv2.THRESH_BINARY_INV)[1]  # alpha < 255
    cv2.copyTo(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), edge, colours)
    return colours
