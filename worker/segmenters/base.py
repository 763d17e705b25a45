"""One interface for every segmenter, and the registry that names them.

A segmenter is built once per worker process (model load is the expensive part of a cold
start) and then turns batches of decoded images into alpha mattes. A matte
(:class:`Matte`) stays at the segmenter's own resolution until someone asks for a size:
the display rendition takes it at display size with no full-resolution work, the full
rendition at the image's size.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from cutout.errors import ConfigurationError, InvalidInput
from cutout.job import ModelInfo
from cutout.settings import Settings


class Matte(ABC):
    """One image's alpha matte, sized on demand; ``nbytes`` is the memory it holds."""

    nbytes: int

    @abstractmethod
    def at(self, height: int, width: int) -> np.ndarray:
        """The matte as uint8 ``height`` x ``width``, 255 = foreground. At the image's own
        size it is exactly what :meth:`Segmenter.segment` returns."""


class ArrayMatte(Matte):
    """A matte held as an array: uint8, or float32 in [0, 1] (rounded to uint8 after
    resizing). Other sizes are resized bilinearly up and by area averaging down."""

    def __init__(self, alpha: np.ndarray) -> None:
        self.alpha = alpha
        self.nbytes = alpha.nbytes

    def at(self, height: int, width: int) -> np.ndarray:
        alpha = self.alpha
        if alpha.shape != (height, width):
            smaller = height * width < alpha.size
            method = cv2.INTER_AREA if smaller else cv2.INTER_LINEAR
            alpha = cv2.resize(alpha, (width, height), interpolation=method)
        if alpha.dtype == np.uint8:
            return alpha
        return np.clip(alpha * np.float32(255.0) + np.float32(0.5), 0, 255).astype(np.uint8)


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

    def mattes(self, images: Sequence[np.ndarray]) -> list[Matte]:
        """The same mattes, not yet sized: what the worker asks for. This default wraps
        :meth:`segment`'s full-size alphas; a segmenter working at a lower resolution
        returns its own mattes, so a display rendition never waits for a full-size one."""
        return [ArrayMatte(alpha) for alpha in self.segment(images)]


def full_size(mattes: Sequence[Matte], images: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Each matte at its image's size (:meth:`Segmenter.segment` from :meth:`~Segmenter.mattes`)."""
    return [matte.at(*image.shape[:2]) for matte, image in zip(mattes, images, strict=True)]


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
