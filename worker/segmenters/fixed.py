"""``fixed``: a segmenter for load benches only (``cutout bench burst``). Its alpha is a
soft centred ellipse whatever the photo, computed in microseconds, so a bench measures
ingest, queues and storage rather than the model; every job records it by name."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cutout.job import ModelInfo
from cutout.settings import Settings
from worker.segmenters.base import Segmenter, register


@register("fixed")
class FixedSegmenter(Segmenter):
    def __init__(self, settings: Settings) -> None:
        self.info = ModelInfo(name="fixed", version="1", fallback=True)
        self.startup = {"build": 0.0}

    def segment(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [ellipse_alpha(*image.shape[:2]) for image in images]


def ellipse_alpha(height: int, width: int) -> np.ndarray:
    """A soft ellipse filling most of the frame (uint8, 255 inside)."""
    y, x = np.ogrid[0:height, 0:width]
    r = ((x - width / 2) / (width * 0.35)) ** 2 + ((y - height / 2) / (height * 0.4)) ** 2
    return (np.clip(1.5 - r, 0, 1) * 255).astype(np.uint8)
