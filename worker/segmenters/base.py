"""One interface for every segmenter, and the registry that names them.

A segmenter is built once per worker process (model load is the expensive part of a cold
start) and then turns batches of decoded images into alpha mattes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import numpy as np

from cutout.errors import ConfigurationError, InvalidInput
from cutout.job import ModelInfo
from cutout.settings import Settings


class Segmenter(ABC):
    """Turns RGB images into alpha mattes.

    ``info`` is what every job served records as its model (``fallback`` marks a
    segmenter that is not the real model). ``startup`` holds the seconds each start-up
    stage took (imports, build, load, to-device, warm-up …), for the first job's timings.
    """

    info: ModelInfo
    startup: dict[str, float]

    @abstractmethod
    def segment(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Alpha mattes for ``images`` (RGB uint8 HxWx3, any sizes, one batch): each is
        uint8 HxW at its image's full size, 255 = foreground. Raises
        :class:`InvalidInput` for an array that is not such an image."""


SegmenterFactory = Callable[[Settings], Segmenter]

#: name → factory (the class); ``cutout``'s settings name the segmenter by these keys.
SEGMENTERS: dict[str, SegmenterFactory] = {}


def register(name: str) -> Callable[[type[Segmenter]], type[Segmenter]]:
    def add(cls: type[Segmenter]) -> type[Segmenter]:
        SEGMENTERS[name] = cls
        return cls

    return add


def build_segmenter(settings: Settings) -> Segmenter:
    """The segmenter ``settings.segmenter`` names, built and ready to serve.

    Raises :class:`ConfigurationError` for an unknown name (listing the known ones) and,
    from the segmenter, for missing weights (naming every place tried)."""
    _load_builtin()
    try:
        factory = SEGMENTERS[settings.segmenter]
    except KeyError:
        raise ConfigurationError(
            f"unknown segmenter {settings.segmenter!r}; choose from {', '.join(sorted(SEGMENTERS))}"
        ) from None
    return factory(settings)


def _load_builtin() -> None:
    """Register the built-in segmenters (their modules import heavy things only on build)."""
    from worker.segmenters import fixed, grabcut, inspyrenet  # noqa: F401


def check_image(index: int, image: object) -> np.ndarray:
    """``image`` as a C-contiguous RGB uint8 array, or :class:`InvalidInput` naming why not."""
    if not isinstance(image, np.ndarray):
        raise InvalidInput(f"image {index}: expected a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InvalidInput(
            f"image {index}: expected RGB uint8 HxWx3, got {image.dtype} {image.shape}"
        )
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise InvalidInput(f"image {index}: {image.shape[1]}x{image.shape[0]} is too small")
    return np.ascontiguousarray(image)
