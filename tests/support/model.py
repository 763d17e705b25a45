"""Random InSPyReNet weights for the model tests, made once per test session.

Random weights are calibrated on the photos the tests segment (see
worker/segmenters/random_weights.py), so the same photos are defined here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

FIXTURES = Path(__file__).parents[1] / "fixtures"
PHOTO_NAMES = ["chelsea.png", "coffee.png", "astronaut.png"]


def fixture_photo(name: str) -> np.ndarray:
    return np.asarray(Image.open(FIXTURES / name).convert("RGB"))


def large_photo() -> np.ndarray:
    """A generated 12 MP photo."""
    from cutout.samples import photo_like

    return photo_like(4000, 3000, seed=7)


def odd_photo() -> np.ndarray:
    from cutout.samples import photo_like

    return photo_like(611, 257, seed=3)


@pytest.fixture(scope="session")
def random_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fast-mode InSPyReNet_SwinB with random, calibrated weights, as the package's .pth."""
    from worker.segmenters.random_weights import save_random_checkpoint

    photos = [fixture_photo(n) for n in PHOTO_NAMES] + [large_photo(), odd_photo()]
    path = tmp_path_factory.mktemp("weights") / "ckpt_fast_random.pth"
    return save_random_checkpoint(path, "fast", photos)


@pytest.fixture(scope="session")
def model_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data directory for every model test: the OpenVINO IR of a checkpoint (a 40 s
    export) is made once per session and shared, as workers on one data directory share it."""
    return tmp_path_factory.mktemp("model-data")


@pytest.fixture(scope="session")
def random_checkpoint_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Base-mode weights, calibrated on two photos: the one base-mode test's cat and a cup
    (a single image leaves some batch-norm layers only five values to average)."""
    from worker.segmenters.random_weights import save_random_checkpoint

    path = tmp_path_factory.mktemp("weights") / "ckpt_base_random.pth"
    photos = [fixture_photo("chelsea.png"), fixture_photo("coffee.png")]
    return save_random_checkpoint(path, "base", photos)


@pytest.fixture(scope="session")
def random_safetensors(random_checkpoint: Path) -> Path:
    """The fast-mode weights converted by ``cutout convert-weights``."""
    from worker.convert_weights import convert

    target = random_checkpoint.with_suffix(".safetensors")
    convert(random_checkpoint, target)
    return target
