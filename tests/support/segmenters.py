"""A deterministic segmenter for tests of the worker's logic (not of the model): the
alpha is a soft ellipse, so results are checkable without any weights."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from cutout.job import ModelInfo
from worker.segmenters.base import Segmenter


def ellipse_alpha(height: int, width: int) -> np.ndarray:
    y, x = np.ogrid[0:height, 0:width]
    r = ((x - width / 2) / (width * 0.35)) ** 2 + ((y - height / 2) / (height * 0.4)) ** 2
    return (np.clip(1.5 - r, 0, 1) * 255).astype(np.uint8)


class EllipseSegmenter(Segmenter):
    calls: ClassVar[list[int]] = []

    def __init__(self) -> None:
        self.info = ModelInfo(name="test-ellipse", version="1")
        self.startup = {"build": 0.0}

    def segment(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        EllipseSegmenter.calls.append(len(images))
        return [ellipse_alpha(*image.shape[:2]) for image in images]


class FailingSegmenter(EllipseSegmenter):
    def segment(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        raise RuntimeError("CUDA error: an illegal memory access was encountered")
