"""The weights-free fallback: OpenCV GrabCut seeded with a centre prior.

It keeps the local demo working offline when no InSPyReNet checkpoint is available. Its
mattes are far worse than the model's, so it is never silent about it: building it logs a
WARNING, and ``info.fallback`` marks every job it serves.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import cv2
import numpy as np

from cutout.errors import InvalidInput
from cutout.job import ModelInfo
from cutout.settings import Settings
from worker.segmenters.base import ArrayMatte, Matte, Segmenter, check_image, full_size, register

log = logging.getLogger(__name__)

#: GrabCut runs on a copy at most this many pixels on its long side, then the mask is
#: scaled back: its cost grows with the pixel count and the prior is coarse anyway.
WORK_SIDE = 384
ITERATIONS = 5
BORDER = 0.04  # the outer 4% of each side is taken as certain background
CENTRE = 0.30  # an ellipse with these half-axes (of width/height) is probably foreground
FEATHER_SIGMA = 1.5


@register("grabcut")
class GrabCutSegmenter(Segmenter):
    def __init__(self, settings: Settings) -> None:
        start = time.perf_counter()
        self.info = ModelInfo(
            name="grabcut",
            version=f"opencv-{cv2.__version__}",
            options={"work_side": WORK_SIDE, "iterations": ITERATIONS},
            fallback=True,
        )
        self.startup = {"build": time.perf_counter() - start}
        log.warning(
            "SEGMENTER FALLBACK: using OpenCV GrabCut with a centre prior, not InSPyReNet; "
            "cutouts will be rough, and every job records model %r with fallback=true",
            self.info.name,
        )

    def segment(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        return full_size(self.mattes(images), images)

    def mattes(self, images: Sequence[np.ndarray]) -> list[Matte]:
        return [ArrayMatte(_grabcut(check_image(i, image))) for i, image in enumerate(images)]


def centre_prior(height: int, width: int) -> np.ndarray:
    """A GrabCut mask: certain background at the border, probable foreground in a central
    ellipse, probable background elsewhere."""
    mask = np.full((height, width), cv2.GC_PR_BGD, np.uint8)
    cv2.ellipse(
        mask,
        (width // 2, height // 2),
        (max(1, int(width * CENTRE)), max(1, int(height * CENTRE))),
        0,
        0,
        360,
        int(cv2.GC_PR_FGD),
        thickness=-1,
    )
    by, bx = max(1, int(height * BORDER)), max(1, int(width * BORDER))
    mask[:by], mask[-by:], mask[:, :bx], mask[:, -bx:] = (cv2.GC_BGD,) * 4
    return mask


def _grabcut(image: np.ndarray) -> np.ndarray:
    """The feathered matte at working size, float32 in [0, 1]."""
    height, width = image.shape[:2]
    scale = min(1.0, WORK_SIDE / max(height, width))
    small_size = (max(8, round(width * scale)), max(8, round(height * scale)))
    small = cv2.resize(image, small_size, interpolation=cv2.INTER_AREA)
    bgr: np.ndarray = np.ascontiguousarray(small[:, :, ::-1])
    mask = centre_prior(small_size[1], small_size[0])
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)  # GrabCut seeds its colour models with k-means: same input, same alpha
    try:
        cv2.grabCut(bgr, mask, (0, 0, 0, 0), bgd, fgd, ITERATIONS, cv2.GC_INIT_WITH_MASK)
    except cv2.error as exc:  # e.g. an image with a single colour
        raise InvalidInput(f"GrabCut failed on a {width}x{height} image: {exc}") from exc
    alpha = np.where((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD), 1.0, 0.0)
    return cv2.GaussianBlur(alpha.astype(np.float32), (0, 0), FEATHER_SIGMA)
