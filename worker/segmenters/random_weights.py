"""Random InSPyReNet weights that behave like a trained model's, for tests and benchmarks.

Pretrained weights cannot be downloaded here. A randomly initialised network saturates:
its logits reach ±1e11, so every alpha is 0 or 1 and no comparison of two inference paths
means anything. Re-estimating every batch-norm layer's statistics on a few photo-like
images (a forward pass in training mode with cumulative averaging) brings each layer's
output back to unit scale: the logits then have a standard deviation of about 1.5 to 2.6 and
most alpha values lie strictly between 0 and 1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from worker.segmenters.inspyrenet import MEAN, STD
from worker.segmenters.network import build_network
from worker.synthetic import photo_like

CALIBRATION_SIZE = 384
CALIBRATION_IMAGES = 2


def random_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict in transparent-background's checkpoint format (any mode loads it)."""
    torch.manual_seed(seed)
    model = build_network("fast", init=True)
    images = [
        photo_like(CALIBRATION_SIZE, CALIBRATION_SIZE, seed=seed + i)
        for i in range(CALIBRATION_IMAGES)
    ]
    calibrate_batchnorm(model, _normalised(images))
    return model.state_dict()


def save_random_checkpoint(path: Path, seed: int = 0) -> Path:
    """Write :func:`random_state_dict` as a ``.pth`` file, the package's own format."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(random_state_dict(seed), path)
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
    model.eval()


def _normalised(images: list[np.ndarray]) -> torch.Tensor:
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div_(255)
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
