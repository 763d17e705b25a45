"""InSPyReNet through our loading and inference code, on both runtimes (OpenVINO, the CPU
default, and torch), against transparent-background's own ``Remover`` on the same random
weights (see tests/support/model.py for why the weights are calibrated: uncalibrated
random weights give alphas of only 0 and 255)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cutout.errors import ConfigurationError, InvalidInput
from cutout.settings import Settings
from tests.support.model import PHOTO_NAMES, large_photo, odd_photo
from tests.support.model import fixture_photo as _photo
from worker.segmenters import openvino_network
from worker.segmenters.inspyrenet import InSPyReNetSegmenter

pytestmark = pytest.mark.slow

RUNTIMES = ["openvino", "torch"]


def _settings(weights: Path, data_dir: Path, runtime: str, mode: str = "fast") -> Settings:
    return Settings(
        weights=str(weights), model_mode=mode, device="cpu", model_runtime=runtime,
        data_dir=data_dir,
    )  # fmt: skip


@pytest.fixture(scope="module", params=RUNTIMES)
def fast(
    request: pytest.FixtureRequest, random_checkpoint: Path, model_data_dir: Path
) -> InSPyReNetSegmenter:
    settings = _settings(random_checkpoint, model_data_dir, request.param)
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


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_base_mode_matches_the_reference(
    random_checkpoint_base: Path, model_data_dir: Path, runtime: str
) -> None:
    from transparent_background import Remover

    settings = _settings(random_checkpoint_base, model_data_dir, runtime, mode="base")
    image = _photo("chelsea.png")
    [alpha] = InSPyReNetSegmenter(settings, warm_up=False).segment([image])
    remover = Remover(mode="base", ckpt=str(random_checkpoint_base), device="cpu")
    _assert_meaningful(alpha, "base")
    _assert_close(alpha, _reference_alpha(remover, image), "base")


def test_the_runtimes_agree_within_one_level(random_checkpoint: Path, model_data_dir: Path) -> None:
    """OpenVINO against torch on the same weights: the issue's bar for adopting it."""
    image = large_photo()
    alphas = [
        InSPyReNetSegmenter(_settings(random_checkpoint, model_data_dir, r)).segment([image])[0]
        for r in RUNTIMES
    ]
    assert np.abs(alphas[0].astype(int) - alphas[1].astype(int)).max() <= 1


def test_safetensors_and_pth_give_the_same_alpha(
    random_checkpoint: Path, random_safetensors: Path, tmp_path: Path
) -> None:
    segmenters = [
        InSPyReNetSegmenter(_settings(w, tmp_path, "torch"), warm_up=False)
        for w in (random_checkpoint, random_safetensors)
    ]
    image = _photo("chelsea.png")
    pth, safetensors = (s.segment([image])[0] for s in segmenters)
    np.testing.assert_array_equal(safetensors, pth)
    assert segmenters[1].info.options["weights"] == random_safetensors.name


STAGES = {
    "openvino": ["imports", "find_weights", "export", "compile", "warm_up"],
    "torch": ["imports", "find_weights", "build", "load", "to_device", "warm_up"],
}


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_start_up_is_timed_and_the_model_described(
    random_checkpoint: Path, model_data_dir: Path, runtime: str
) -> None:
    segmenter = InSPyReNetSegmenter(_settings(random_checkpoint, model_data_dir, runtime))
    assert list(segmenter.startup) == STAGES[runtime]
    assert all(seconds >= 0 for seconds in segmenter.startup.values())
    assert segmenter.startup["warm_up"] == 0.0  # none on the CPU
    info = segmenter.info
    assert (info.name, info.version, info.fallback) == ("inspyrenet", "1", False)
    assert info.options["mode"] == "fast" and info.options["dtype"] == "fp32"
    assert info.options["device"] == "cpu" and info.options["runtime"] == runtime


def test_prepare_model_leaves_the_ir_in_the_data_directory(
    random_checkpoint: Path, model_data_dir: Path, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from worker.prepare_model import command

    settings = _settings(random_checkpoint, model_data_dir, "openvino")
    result = CliRunner().invoke(command, [], obj=settings)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{settings.model_identity} ready in {model_data_dir}: ")
    assert "export" in result.output and "compile" in result.output
    assert (openvino_network.ir_dir(settings, random_checkpoint) / "network.xml").is_file()
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    garbage = settings.with_overrides(weights=str(tmp_path / "garbage.pth"), data_dir=tmp_path)
    wrong = CliRunner().invoke(command, [], obj=garbage)
    assert wrong.exit_code == 1 and "cannot read checkpoint" in wrong.output


def test_openvino_beside_a_gpu_says_the_gpu_is_unused(
    random_checkpoint: Path,
    model_data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    settings = _settings(random_checkpoint, model_data_dir, "openvino")
    segmenter = InSPyReNetSegmenter(settings.with_overrides(device="auto"))
    assert segmenter.device.type == "cpu"
    assert "set CUTOUT_MODEL_RUNTIME=torch to use the GPU" in caplog.text


def test_a_second_start_reads_the_ir_and_builds_no_torch_network(
    random_checkpoint: Path, model_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(random_checkpoint, model_data_dir, "openvino")
    InSPyReNetSegmenter(settings)  # exports, unless an earlier test did
    built: list[str] = []
    monkeypatch.setattr(
        "worker.segmenters.inspyrenet._folded_logits", lambda *a: built.append("torch")
    )
    again = InSPyReNetSegmenter(settings)
    assert built == [] and again.segment([_photo("chelsea.png")])[0].shape == (300, 451)


def test_bad_images_are_refused_by_name(fast: InSPyReNetSegmenter) -> None:
    good = _photo("chelsea.png")
    with pytest.raises(InvalidInput, match="image 1: expected RGB uint8"):
        fast.segment([good, good[..., 0]])
    with pytest.raises(InvalidInput, match="image 0: expected RGB uint8"):
        fast.segment([good.astype(np.float32)])
    assert fast.segment([]) == []


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_checkpoint_of_another_network_is_a_configuration_error(
    tmp_path: Path, runtime: str
) -> None:
    import torch

    wrong = tmp_path / "wrong.pth"
    torch.save({"conv.weight": torch.zeros(3, 3)}, wrong)
    with pytest.raises(ConfigurationError, match="not an InSPyReNet_SwinB checkpoint"):
        InSPyReNetSegmenter(_settings(wrong, tmp_path, runtime), warm_up=False)
    assert list(tmp_path.glob("openvino/*")) == []  # no half-written IR left behind
