"""Placeholder until the model branch lands the real registry."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from cutout.job import ModelInfo
from cutout.settings import Settings


class Segmenter(ABC):
    info: ModelInfo
    startup: dict[str, float]

    @abstractmethod
    def segment(self, images: Sequence[np.ndarray]) -> list[np.ndarray]: ...


SEGMENTERS: dict[str, type[Segmenter]] = {}


def build_segmenter(settings: Settings) -> Segmenter:
    return SEGMENTERS[settings.segmenter]()
