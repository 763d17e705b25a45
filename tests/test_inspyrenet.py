"""InSPyReNet through our loading and inference code, against transparent-background's
own ``Remover`` on the same random weights (see tests/support/model.py for why the weights
are calibrated: uncalibrated random weights give alphas of only 0 and 255)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cutout.errors import ConfigurationError, InvalidInput
from cutout.settings import Settings
from tests.support.model import PHOTO_NAMES, large_photo, odd_photo
from tests.support.model import fixture_photo as _photo
from worker.segmenters.inspyrenet import InSPyReNetSegmenter

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fast(random_checkpoint: Path) -> InSPyReNetSegmenter:
    settings = Settings(weights=str(random_checkpoint), model_mode="fast", device="cpu")
    return InSPyReNetSegmenter(settings, warm_up=False, device_batch=8)


@pytest.fixture(scope="module")
def remover_fast(random_checkpoint: Path) -> object:
    from transparent_background import Remover  # HOME is a temporary folder (conftest)

    return Remover(mode="fast", ckpt=str(random_checkpoint), device="cpu")


def _reference_alpha(remover: object, image: np.ndarray) -> np.ndarray:
    out = remover.process(Image.fromarray(image), type="map")  # type: ignore[attr-defined]
    return np.asarray(out)[..., 0]


def _assert_close(ours: np.ndarray, reference: np.ndarray, label: str) -> None:
    diff = np.abs(ours.astype(int) - reference.astype(int))
    assert ours.shape == reference.shape, label
    assert diff.mean() <= 0.5, f"{label}: mean |diff| {diff.mean():.3f}/255"
    assert diff.max() <= 2, f"{label}: max |diff| {diff.max()}/255"


def _assert_meaningful(alpha: np.ndarray, label: str) -> None:
    """The check compares something: most of the alpha is neither 0 nor 255."""
    soft = np.mean((alpha > 12) & (alpha < 243))
    assert soft > 0.2, f"{label}: only {soft:.0%} of the alpha is soft; weights saturate"


@pytest.mark.parametrize("name", PHOTO_NAMES)
def test_matches_the_reference_on_the_fixture_photos(
    fast: InSPyReNetSegmenter, remover_fast: object, name: str
) -> None:
    image = _photo(name)
    [alpha] = fast.segment([image])
    assert alpha.dtype == np.uint8 and alpha.shape == image.shape[:2]
    _assert_meaningful(alpha, name)
    _assert_close(alpha, _reference_alpha(remover_fast, image), name)


def test_matches_the_reference_on_a_12_megapixel_photo(
    fast: InSPyReNetSegmenter, remover_fast: object
) -> None:
    image = large_photo()
    [alpha] = fast.segment([image])
    _assert_meaningful(alpha, "12 MP")
    _assert_close(alpha, _reference_alpha(remover_fast, image), "12 MP")


def test_a_batch_of_mixed_sizes_equals_single_images(fast: InSPyReNetSegmenter) -> None:
    images = [_photo(name) for name in PHOTO_NAMES] + [odd_photo()]
    batched = fast.segment(images)
    for image, alpha in zip(images, batched, strict=True):
        [single] = fast.segment([image])
        assert alpha.shape == image.shape[:2]
        assert np.abs(alpha.astype(int) - single.astype(int)).max() <= 1


def test_base_mode_matches_the_reference(random_checkpoint_base: Path) -> None:
    from transparent_background import Remover

    weights = str(random_checkpoint_base)
    settings = Settings(weights=weights, model_mode="base", device="cpu")
    image = _photo("chelsea.png")
    [alpha] = InSPyReNetSegmenter(settings, warm_up=False).segment([image])
    remover = Remover(mode="base", ckpt=weights, device="cpu")
    _assert_meaningful(alpha, "base")
    _assert_close(alpha, _reference_alpha(remover, image), "base")


def test_safetensors_and_pth_give_the_same_alpha(
    fast: InSPyReNetSegmenter, random_safetensors: Path
) -> None:
    settings = Settings(weights=str(random_safetensors), model_mode="fast", device="cpu")
    from_safetensors = InSPyReNetSegmenter(settings, warm_up=False)
    image = _photo("chelsea.png")
    np.testing.assert_array_equal(from_safetensors.segment([image])[0], fast.segment([image])[0])
    assert from_safetensors.info.options["weights"] == random_safetensors.name


def test_start_up_is_timed_and_the_model_described(random_safetensors: Path) -> None:
    settings = Settings(weights=str(random_safetensors), model_mode="fast", device="cpu")
    segmenter = InSPyReNetSegmenter(settings)
    stages = ["imports", "find_weights", "build", "load", "to_device", "warm_up"]
    assert list(segmenter.startup) == stages
    assert all(seconds >= 0 for seconds in segmenter.startup.values())
    info = segmenter.info
    assert (info.name, info.version, info.fallback) == ("inspyrenet", "1", False)
    assert info.options["mode"] == "fast" and info.options["dtype"] == "fp32"
    assert info.options["device"] == "cpu"


def test_bad_images_are_refused_by_name(fast: InSPyReNetSegmenter) -> None:
    good = _photo("chelsea.png")
    with pytest.raises(InvalidInput, match="image 1: expected RGB uint8"):
        fast.segment([good, good[..., 0]])
    with pytest.raises(InvalidInput, match="image 0: expected RGB uint8"):
        fast.segment([good.astype(np.float32)])
    assert fast.segment([]) == []


def test_a_checkpoint_of_another_network_is_a_configuration_error(tmp_path: Path) -> None:
    import torch

    wrong = tmp_path / "wrong.pth"
    torch.save({"conv.weight": torch.zeros(3, 3)}, wrong)
    settings = Settings(weights=str(wrong), model_mode="fast", device="cpu")
    with pytest.raises(ConfigurationError, match="not an InSPyReNet_SwinB checkpoint"):
        InSPyReNetSegmenter(settings, warm_up=False)
