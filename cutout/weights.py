"""Where the InSPyReNet checkpoint can come from, in the order we try them.

This is configuration, not model code (it needs no torch), so ``cutout up`` can decide
before starting anything whether the real model can run or the demo must fall back.
"""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass
from pathlib import Path

from cutout.settings import Settings

#: transparent-background's own release files and cache directory (its config.yaml).
PACKAGE_URLS = {
    "base": "https://github.com/plemeri/transparent-background/releases/download/1.2.12/ckpt_base.pth",
    "fast": "https://github.com/plemeri/transparent-background/releases/download/1.2.12/ckpt_fast.pth",
}


def package_cache() -> Path:
    return Path.home() / ".transparent-background"


@dataclass(frozen=True)
class WeightsSource:
    """One place to look: a local path or a URI, and whether it is usable right now."""

    location: str
    available: bool


def weight_sources(settings: Settings) -> list[WeightsSource]:
    """Every place tried, in order: ``CUTOUT_WEIGHTS`` (path or URI), the package cache
    (safetensors beside the .pth first), then the package's download URL."""
    sources = []
    if settings.weights:
        if "://" in settings.weights:
            sources.append(WeightsSource(settings.weights, True))
        else:
            sources.append(WeightsSource(settings.weights, Path(settings.weights).is_file()))
    stem = package_cache() / f"ckpt_{settings.model_mode}"
    for path in (stem.with_suffix(".safetensors"), stem.with_suffix(".pth")):
        sources.append(WeightsSource(str(path), path.is_file()))
    sources.append(WeightsSource(PACKAGE_URLS[settings.model_mode], False))
    return sources


def local_weights(settings: Settings) -> Path | None:
    """The first checkpoint on disk, if any."""
    for source in weight_sources(settings):
        if source.available and "://" not in source.location:
            return Path(source.location)
    return None


def download_reachable(url: str, *, timeout_s: float = 3.0) -> bool:
    """Whether the download URL answers at all (machines without internet fall back)."""
    try:
        request = urllib.request.Request(url, method="HEAD")
        with urllib.request.urlopen(request, timeout=timeout_s):
            return True
    except OSError:
        return False
