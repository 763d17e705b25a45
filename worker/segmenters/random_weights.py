"""Random InSPyReNet weights that behave like a trained model's, for tests and benchmarks.

Pretrained weights cannot be downloaded here. A randomly initialised network saturates:
its logits reach about 1e11, so every alpha is 0 or 255 and no comparison of two inference
paths means anything. Re-estimating every batch-norm layer's statistics (a forward pass in
training mode with cumulative averaging) on the photos to be segmented, at the mode's
input size, brings the logits back to a standard deviation of about 1 to 3, and most of
each alpha strictly between 0 and 255. Each mode needs its own calibration, as the package
ships a checkpoint per mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from worker.segmenters.inspyrenet import MEAN, STD
from worker.segmenters.network import BASE_SIZES, build_network


def random_state_dict(
    mode: str, photos: Sequence[np.ndarray], seed: int = 0
) -> dict[str, torch.Tensor]:
    """A state dict in transparent-background's checkpoint format for ``mode``, calibrated
    on ``photos`` (RGB uint8, any sizes) at that mode's size.

    Calibrate on the very photos it will segment: a random network is chaotic, and
    statistics from other images (or the other mode's size: the attention blocks sum over
    every pixel) leave logits in the tens of thousands."""
    torch.manual_seed(seed)
    model = build_network(mode, init=True)
    calibrate_batchnorm(model, _normalised(list(photos), BASE_SIZES[mode]))
    return model.state_dict()


def save_random_checkpoint(
    path: Path, mode: str, photos: Sequence[np.ndarray], seed: int = 0
) -> Path:
    """Write :func:`random_state_dict` as a ``.pth`` file, the package's own format."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(random_state_dict(mode, photos, seed), path)
    return path


def calibrate_batchnorm(model: nn.Module, batch: torch.Tensor) -> None:
    """Replace every batch-norm layer's running statistics with those of ``batch``."""
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average: one batch sets the statistics exactly
        norm.train()
    with torch.no_grad():
        model.forward_inspyre(batch)  # type: ignore[operator]
        for norm in norms:
            # a channel that barely varied on these images must not amplify another
            # image's variation a hundredfold: floor each variance at the layer's median
            var = norm.running_var
            assert var is not None
            var.clamp_(min=float(var.median()))
    model.eval()


def _normalised(images: list[np.ndarray], size: tuple[int, int]) -> torch.Tensor:
    """The images as the network sees them: resized as Remover resizes, normalised."""
    bilinear = Image.Resampling.BILINEAR
    resized = [np.asarray(Image.fromarray(i).resize(size, bilinear)) for i in images]
    x = torch.from_numpy(np.stack(resized)).permute(0, 3, 1, 2).float().div_(255)
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
