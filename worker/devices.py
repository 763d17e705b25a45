"""The one place that turns ``CUTOUT_DEVICE`` into a torch device."""

from __future__ import annotations

import torch

from cutout.errors import ConfigurationError


def resolve_device(name: str) -> torch.device:
    """``auto`` is the first GPU if there is one, else the CPU; anything else must name a
    device that exists (a :class:`ConfigurationError` otherwise)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ConfigurationError(f"bad CUTOUT_DEVICE {name!r}: {exc}") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigurationError(f"CUTOUT_DEVICE={name} but no CUDA device is available")
    return device
