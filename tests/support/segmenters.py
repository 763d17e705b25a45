"""A deterministic segmenter for tests of the worker's logic (not of the model): the
alpha is a soft ellipse, so results are checkable without any weights."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np

from cutout.errors import InvalidInput
from cutout.job import ModelInfo
from worker.segmenters import base
from worker.segmenters.base import Segmenter
from worker.segmenters.fixed import ellipse_alpha as ellipse_alpha  # re-exported for tests


class EllipseSegmenter(Segmenter):
    calls: ClassVar[list[int]] = []

    def __init__(self, settings: object = None) -> None:
        self.info = ModelInfo(name="test-ellipse", version="1")
        self.startup = {"build": 0.0}

    def segment(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        EllipseSegmenter.calls.append(len(images))
        return [ellipse_alpha(*image.shape[:2]) for image in images]


class FailingSegmenter(EllipseSegmenter):
    def segment(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        raise RuntimeError("CUDA error: an illegal memory access was encountered")


class SlowSegmenter(EllipseSegmenter):
    """The ellipse after :data:`SLOW_S` seconds: keeps a batch in progress long enough
    for a test to act (kill the worker) while it holds the leases."""

    def segment(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        time.sleep(SLOW_S)
        return super().segment(images)


class CountingSegmenter(EllipseSegmenter):
    """The ellipse, appending one line per image it is given (the sha256 of its pixels)
    to the file :data:`COUNT_LOG_VARIABLE` names: how a test counts model passes in a
    separately started ``cutout up`` and its workers."""

    def segment(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        lines = "".join(hashlib.sha256(image.tobytes()).hexdigest() + "\n" for image in images)
        with open(os.environ[COUNT_LOG_VARIABLE], "a") as fh:
            fh.write(lines)
        return super().segment(images)


COUNT_LOG_VARIABLE = "TEST_SEGMENT_PASSES_LOG"
SLOW_S = 3.0


class FixedTimeSegmenter(EllipseSegmenter):
    """A model with known times: :data:`FIXED_LOAD_S` to load, :data:`FIXED_BATCH_S` per
    batch whatever its size (what the planner's reality check measures and replays)."""

    def __init__(self, settings: object = None) -> None:
        time.sleep(FIXED_LOAD_S)
        super().__init__(settings)

    def segment(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        time.sleep(FIXED_BATCH_S)
        return super().segment(images)


FIXED_LOAD_S = 1.5
FIXED_BATCH_S = 0.5
#: What :func:`child_env` registers in child processes.
FOR_CHILDREN = {
    "test-ellipse": EllipseSegmenter,
    "test-slow": SlowSegmenter,
    "test-fixed": FixedTimeSegmenter,
    "test-counting": CountingSegmenter,
}
_ROOT = Path(__file__).resolve().parents[2]


def register() -> None:
    """Add the test segmenters to the worker's registry (in this process)."""
    base.SEGMENTERS.update(FOR_CHILDREN)


def child_env(folder: Path) -> dict[str, str]:
    """Environment variables under which any child Python process (``python -m worker``,
    ``cutout up`` and the workers it starts) has the test segmenters registered: a
    ``sitecustomize`` module written to ``folder`` and put first on ``PYTHONPATH`` calls
    :func:`register` at interpreter start-up. The real entry points run unchanged."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(
        "from tests.support.segmenters import register\n\nregister()\n"
    )
    path = [str(folder), str(_ROOT), os.environ.get("PYTHONPATH", "")]
    return {"PYTHONPATH": os.pathsep.join(p for p in path if p)}


class PickySegmenter(EllipseSegmenter):
    """Refuses images 77 pixels wide, as a segmenter refuses an image it cannot use."""

    def segment(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        if any(image.shape[1] == 77 for image in images):
            raise InvalidInput("a 77-pixel-wide image cannot be segmented", code="unsegmentable")
        return super().segment(images)


class PoisonSegmenter(EllipseSegmenter):
    """Crashes (as model code does on a photo it chokes on) whenever a batch holds an
    image :data:`POISON_WIDTH` pixels wide; every other photo segments normally."""

    def segment(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        if any(image.shape[1] == POISON_WIDTH for image in images):
            raise RuntimeError("shape mismatch in the decoder (poison photo)")
        return super().segment(images)


POISON_WIDTH = 66
