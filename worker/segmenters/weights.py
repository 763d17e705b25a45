"""Fetching and reading InSPyReNet checkpoints.

The places, in order, are :func:`cutout.weights.weight_sources` (``CUTOUT_WEIGHTS`` as a
path or a ``file://``, ``gs://`` or ``http(s)://`` URI, the package's cache, the package's
download URL), the same list ``cutout up`` reads. A URI is downloaded once into
``<data_dir>/weights/``; the first place that yields a file wins.

A checkpoint is either the package's ``.pth`` (a plain state dict) or a ``.safetensors``
file (``cutout convert-weights``), which loads memory-mapped: no unpickling, no copy.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import torch

from cutout.errors import ConfigurationError
from cutout.settings import Settings
from cutout.weights import weight_sources

log = logging.getLogger(__name__)


def find_weights(settings: Settings, *, download: bool = False) -> Path | None:
    """The checkpoint the settings lead to, or ``None``. Downloads only if asked, and never
    raises for a missing checkpoint."""
    path, _ = _search(settings, download=download)
    return path


def resolve_weights(settings: Settings) -> Path:
    """The checkpoint to load, downloading it if needed; a missing one is a
    :class:`ConfigurationError` that names every place tried and why it failed."""
    path, tried = _search(settings, download=True)
    if path is None:
        raise ConfigurationError(
            f"no InSPyReNet checkpoint for mode {settings.model_mode!r}; tried: "
            + "; ".join(tried)
            + ". Set CUTOUT_WEIGHTS to a checkpoint (.pth or .safetensors), or "
            "CUTOUT_SEGMENTER=grabcut for the weights-free fallback."
        )
    return path


def _search(settings: Settings, *, download: bool) -> tuple[Path | None, list[str]]:
    tried = [] if settings.weights else ["CUTOUT_WEIGHTS (not set)"]
    for source in weight_sources(settings):
        location = source.location
        parsed = urllib.parse.urlparse(location)
        if "://" not in location or parsed.scheme == "file":
            path = Path(urllib.parse.unquote(parsed.path) if "://" in location else location)
            if path.is_file():
                return path, tried
            tried.append(f"{location} ({'not a file' if path.exists() else 'missing'})")
            continue
        name = Path(parsed.path).name or "checkpoint.pth"
        cached = settings.data_dir / "weights" / f"{_short_hash(location)}-{name}"
        if cached.is_file():
            return cached, tried
        if not download:
            tried.append(f"{location} (not downloaded)")
            continue
        try:
            _download(location, cached)
        except OSError as exc:
            tried.append(f"{location} (download failed: {exc})")
            continue
        return cached, tried
    return None, tried


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _download(uri: str, target: Path) -> None:
    """Fetch ``uri`` into ``target`` atomically (a partial download never looks finished)."""
    log.info("downloading weights %s to %s", uri, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            if uri.startswith("gs://"):
                _download_gcs(uri, out)
            elif uri.startswith(("http://", "https://")):
                with urllib.request.urlopen(uri, timeout=60) as response:
                    shutil.copyfileobj(response, out, 1 << 20)
            else:
                raise OSError(f"unsupported URI scheme in {uri}")
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


def _download_gcs(uri: str, out: Any) -> None:
    try:
        from google.cloud import storage
    except ImportError as exc:
        raise OSError("google-cloud-storage is not installed") from exc
    bucket, _, key = uri[len("gs://") :].partition("/")
    try:
        storage.Client().bucket(bucket).blob(key).download_to_file(out)
    except Exception as exc:  # the client raises its own hierarchy; report it as I/O
        raise OSError(f"{type(exc).__name__}: {exc}") from exc


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, algorithm).hexdigest()


def load_state_dict(path: Path, device: str = "cpu") -> dict[str, torch.Tensor]:
    """Read a checkpoint: ``.safetensors`` memory-mapped (straight onto ``device``), anything
    else as the package's pickled state dict (``weights_only``)."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path), device=device)
        # mmap needs the zip format of torch >= 1.6; older pickles load the slow way
        zipped = zipfile.is_zipfile(path)
        state = torch.load(path, map_location=device, weights_only=True, mmap=zipped)
    except Exception as exc:  # torch/safetensors raise many types for a corrupt file
        raise ConfigurationError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(state, dict):
        raise ConfigurationError(f"checkpoint {path} holds {type(state).__name__}, not a dict")
    return state
