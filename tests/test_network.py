"""Importing and building InSPyReNet fast, and the rewrites that must not change it."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from worker.segmenters.network import build_network, fold_batchnorm, to_channels_last


def test_the_model_imports_without_the_package_stack() -> None:
    code = (
        "import sys; from worker.segmenters.network import build_network\n"
        "build_network('fast')\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('timm', 'kornia', "
        "'torchvision', 'albumentations', 'pymatting', 'transparent_background')]\n"
        "print(heavy)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_real_package_still_imports_afterwards() -> None:
    """The stand-ins used while importing are gone: Remover gets timm's real DropPath."""
    build_network("fast")
    import transparent_background.backbones.SwinTransformer as swin

    assert swin.DropPath.__module__.startswith("timm")


def test_unknown_mode() -> None:
    with pytest.raises(ValueError, match="unknown mode 'huge'"):
        build_network("huge")


def test_folding_and_channels_last_keep_the_function() -> None:
    torch.manual_seed(0)
    model = build_network("fast", init=True)
    for norm in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        norm.running_mean.uniform_(-0.1, 0.1)  # type: ignore[union-attr]
        norm.running_var.uniform_(0.5, 2.0)  # type: ignore[union-attr]
    x = torch.randn(2, 3, 96, 96)
    with torch.inference_mode():
        before = model.forward_inspyre(x)["saliency"][-1]
        fold_batchnorm(model)
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
        folded = model.forward_inspyre(x)["saliency"][-1]
        to_channels_last(model)
        last = model.forward_inspyre(x.contiguous(memory_format=torch.channels_last))
    scale = before.abs().max()
    assert (folded - before).abs().max() / scale < 1e-4
    assert (last["saliency"][-1] - before).abs().max() / scale < 1e-4
