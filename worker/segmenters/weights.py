"""Where InSPyReNet checkpoints come from, and how they are read.

Places, in order (the first that has a file wins):

1. ``CUTOUT_WEIGHTS``: a path, or a ``file://``, ``gs://``, ``http(s)://`` URI (a URI is
   downloaded once into ``<data_dir>/weights/``). When set, it is the only place tried:
   an explicit choice that fails must not be replaced by another checkpoint silently.
2. transparent-background's own cache (``~/.transparent-background/`` or
   ``$TRANSPARENT_BACKGROUND_FILE_PATH/.transparent-background/``): ``ckpt_<mode>``
   as ``.safetensors`` (see ``cutout convert-weights``) or as the package's ``.pth``.
3. the package's download URL, saved into that cache and checked against its MD5.

A checkpoint is either the package's ``.pth`` (a plain state dict) or a ``.safetensors``
file, which loads memory-mapped: no copy on CPU, and no unpickling.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cutout.errors import ConfigurationError
from cutout.settings import Settings

log = logging.getLogger(__name__)

SUFFIXES = (".safetensors", ".pth")


@dataclass(frozen=True)
class PackageCheckpoint:
    """One mode's entry in transparent-background's ``config.yaml``."""

    name: str
    url: str
    md5: str | None


def package_checkpoint(mode: str) -> PackageCheckpoint:
    """Read the checkpoint name, URL and MD5 the package uses for ``mode``, from the user's
    copy of its config (as ``Remover`` does) or the packaged one."""
    import yaml

    user_config = package_cache_dir() / "config.yaml"
    if user_config.is_file():
        config_path = user_config
    else:
        spec = importlib.util.find_spec("transparent_background")
        if spec is None or not spec.submodule_search_locations:
            raise ConfigurationError("transparent-background is not installed")
        config_path = Path(next(iter(spec.submodule_search_locations))) / "config.yaml"
    entry: dict[str, Any] = yaml.safe_load(config_path.read_text())[mode]
    return PackageCheckpoint(name=entry["ckpt_name"], url=entry["url"], md5=entry.get("md5"))


def package_cache_dir() -> Path:
    root = os.environ.get("TRANSPARENT_BACKGROUND_FILE_PATH") or os.path.expanduser("~")
    return Path(root) / ".transparent-background"


def find_weights(settings: Settings, *, download: bool = False) -> Path | None:
    """The checkpoint the settings lead to, or ``None``. Downloads only if asked; never
    raises for a missing checkpoint (``cutout up`` uses this to decide on the fallback)."""
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
            + ". Set CUTOUT_WEIGHTS to a checkpoint, or CUTOUT_SEGMENTER=grabcut for the "
            "weights-free fallback."
        )
    return path


def _search(settings: Settings, *, download: bool) -> tuple[Path | None, list[str]]:
    tried: list[str] = []
    if settings.weights:
        return _explicit(settings.weights, settings.data_dir / "weights", download, tried), tried
    tried.append("CUTOUT_WEIGHTS (not set)")
    entry = package_checkpoint(settings.model_mode)
    cache = package_cache_dir()
    stem = Path(entry.name).stem
    for suffix in SUFFIXES:
        candidate = cache / (stem + suffix)
        if candidate.is_file():
            return candidate, tried
        tried.append(f"{candidate} (missing)")
    target = cache / entry.name
    if not download:
        tried.append(f"{entry.url} (not downloaded)")
        return None, tried
    try:
        _download(entry.url, target)
        if entry.md5 and (digest := file_digest(target, "md5")) != entry.md5:
            target.unlink()
            raise OSError(f"MD5 {digest} is not the expected {entry.md5}")
    except OSError as exc:
        tried.append(f"{entry.url} (download failed: {exc})")
        return None, tried
    return target, tried


def _explicit(weights: str, cache: Path, download: bool, tried: list[str]) -> Path | None:
    parsed = urllib.parse.urlparse(weights)
    if parsed.scheme in ("", "file"):
        path = Path(urllib.parse.unquote(parsed.path) if parsed.scheme else weights)
        if path.is_file():
            return path
        tried.append(f"CUTOUT_WEIGHTS={weights} ({'not a file' if path.exists() else 'missing'})")
        return None
    if parsed.scheme not in ("gs", "http", "https"):
        tried.append(f"CUTOUT_WEIGHTS={weights} (unsupported scheme {parsed.scheme!r})")
        return None
    name = Path(parsed.path).name or "checkpoint.pth"
    target = cache / f"{hashlib.sha256(weights.encode()).hexdigest()[:16]}-{name}"
    if target.is_file():
        return target
    if not download:
        tried.append(f"CUTOUT_WEIGHTS={weights} (not downloaded to {target})")
        return None
    try:
        _download(weights, target)
    except OSError as exc:
        tried.append(f"CUTOUT_WEIGHTS={weights} (download failed: {exc})")
        return None
    return target


def _download(uri: str, target: Path) -> None:
    """Fetch ``uri`` into ``target`` atomically (a partial download never looks finished)."""
    log.info("downloading weights %s to %s", uri, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            if uri.startswith("gs://"):
                _download_gcs(uri, out)
            else:
                with urllib.request.urlopen(uri, timeout=60) as response:
                    shutil.copyfileobj(response, out, 1 << 20)
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
