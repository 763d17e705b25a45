"""The weights-free fallback and the registry that builds segmenters by name."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image

from cutout.errors import ConfigurationError, InvalidInput
from cutout.settings import Settings
from tests.conftest import FIXTURES
from worker.segmenters.base import SEGMENTERS, build_segmenter
from worker.segmenters.grabcut import GrabCutSegmenter, centre_prior


def test_the_fallback_is_built_loudly_and_labelled(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        segmenter = build_segmenter(settings.with_overrides(segmenter="grabcut"))
    assert isinstance(segmenter, GrabCutSegmenter)
    assert segmenter.info.fallback is True and segmenter.info.name == "grabcut"
    assert any("FALLBACK" in r.message and r.levelno == logging.WARNING for r in caplog.records)


def test_it_cuts_out_the_cat(settings: Settings) -> None:
    cat = np.asarray(Image.open(FIXTURES / "chelsea.png").convert("RGB"))
    [alpha] = GrabCutSegmenter(settings).segment([cat])
    assert alpha.shape == cat.shape[:2] and alpha.dtype == np.uint8
    height, width = alpha.shape
    centre = alpha[height // 3 : 2 * height // 3, width // 3 : 2 * width // 3]
    assert centre.mean() > 200  # the cat's body
    assert alpha[: height // 20].mean() < 5 and alpha[:, : width // 20].mean() < 5  # border


def test_the_prior_marks_border_and_centre() -> None:
    import cv2

    mask = centre_prior(100, 200)
    assert mask[0, 0] == cv2.GC_BGD and mask[50, 100] == cv2.GC_PR_FGD
    assert mask[50, 20] == cv2.GC_PR_BGD


def test_bad_input_is_refused(settings: Settings) -> None:
    with pytest.raises(InvalidInput, match="image 0: expected RGB uint8"):
        GrabCutSegmenter(settings).segment([np.zeros((10, 10), np.uint8)])


def test_an_unknown_segmenter_lists_the_known_ones(settings: Settings) -> None:
    with pytest.raises(ConfigurationError, match="unknown segmenter 'nope'; choose from") as raised:
        build_segmenter(settings.with_overrides(segmenter="nope"))
    assert "grabcut" in raised.value.message and "inspyrenet" in raised.value.message
    assert {"grabcut", "inspyrenet"} <= set(SEGMENTERS)


def test_inspyrenet_without_weights_names_the_places(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("cutout.weights.PACKAGE_URLS", {"base": "http://127.0.0.1:9/c.pth"})
    with pytest.raises(ConfigurationError, match="no InSPyReNet checkpoint for mode 'base'"):
        build_segmenter(settings)


def test_model_identity_follows_what_changes_pixels() -> None:
    plain = Settings()
    assert plain.model_identity == "inspyrenet-base-fp32-openvino-fg@1"
    on_torch = Settings(model_runtime="torch")
    assert on_torch.model_identity != plain.model_identity
    assert on_torch.with_overrides(model_dtype="bf16").model_identity != on_torch.model_identity
    assert Settings(foreground=False).model_identity != plain.model_identity
    assert Settings(channels_last=not plain.channels_last).model_identity == plain.model_identity
