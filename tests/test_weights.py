"""Finding and reading checkpoints: every place in order, downloads, clear errors."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from cutout.errors import ConfigurationError
from cutout.settings import Settings
from worker.segmenters import weights
from worker.segmenters.weights import find_weights, load_state_dict, resolve_weights


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The package's download URL points at a closed local port: refused at once."""
    monkeypatch.setattr(
        "cutout.weights.PACKAGE_URLS",
        {"base": "http://127.0.0.1:9/ckpt_base.pth", "fast": "http://127.0.0.1:9/ckpt_fast.pth"},
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server over a folder; yields its base URL and the folder."""
    root = tmp_path / "served"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def _checkpoint(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"w": torch.arange(6.0)}, path)
    return path


def _cache() -> Path:
    return Path.home() / ".transparent-background"


def test_a_missing_checkpoint_names_every_place_tried(settings: Settings, offline: None) -> None:
    assert find_weights(settings) is None
    with pytest.raises(ConfigurationError) as raised:
        resolve_weights(settings)
    message = raised.value.message
    assert "CUTOUT_WEIGHTS (not set)" in message
    assert f"{_cache() / 'ckpt_base.safetensors'} (missing)" in message
    assert f"{_cache() / 'ckpt_base.pth'} (missing)" in message
    assert "http://127.0.0.1:9/ckpt_base.pth (download failed" in message
    assert "CUTOUT_SEGMENTER=grabcut" in message


def test_an_explicit_path_that_is_missing_is_named(settings: Settings, offline: None) -> None:
    explicit = settings.with_overrides(weights="/nowhere/ckpt.pth")
    with pytest.raises(ConfigurationError, match=r"/nowhere/ckpt.pth \(missing\)"):
        resolve_weights(explicit)


def test_the_explicit_path_wins(settings: Settings, tmp_path: Path) -> None:
    _checkpoint(_cache() / "ckpt_base.pth")
    mine = _checkpoint(tmp_path / "mine.pth")
    assert resolve_weights(settings.with_overrides(weights=str(mine))) == mine
    assert resolve_weights(settings.with_overrides(weights=f"file://{mine}")) == mine


def test_the_package_cache_prefers_safetensors(settings: Settings) -> None:
    pth = _checkpoint(_cache() / "ckpt_fast.pth")
    fast = settings.with_overrides(model_mode="fast")
    assert find_weights(fast) == pth
    converted = _cache() / "ckpt_fast.safetensors"
    converted.write_bytes(b"x")
    assert find_weights(fast) == converted


def test_a_uri_is_downloaded_once(settings: Settings, served: tuple[str, Path]) -> None:
    url, root = served
    _checkpoint(root / "remote.pth")
    remote = settings.with_overrides(weights=f"{url}/remote.pth")
    assert find_weights(remote) is None  # never downloads unless asked
    path = resolve_weights(remote)
    assert path.parent == settings.data_dir / "weights" and path.name.endswith("-remote.pth")
    assert torch.equal(load_state_dict(path)["w"], torch.arange(6.0))
    (root / "remote.pth").unlink()
    assert find_weights(remote) == path  # from the download cache now
    assert not list(path.parent.glob("*.part"))


def test_a_failed_download_leaves_nothing_behind(
    settings: Settings, served: tuple[str, Path]
) -> None:
    url, _ = served
    remote = settings.with_overrides(weights=f"{url}/absent.pth")
    with pytest.raises(ConfigurationError, match=r"absent.pth \(download failed: HTTP Error 404"):
        resolve_weights(remote)
    assert not list((settings.data_dir / "weights").glob("*"))


def test_unreadable_checkpoints_are_configuration_errors(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigurationError, match="cannot read checkpoint"):
        load_state_dict(garbage)
    listed = tmp_path / "list.pth"
    torch.save([1, 2], listed)
    with pytest.raises(ConfigurationError, match="holds list, not a dict"):
        load_state_dict(listed)


def test_file_digest_is_the_sha256(tmp_path: Path) -> None:
    import hashlib

    path = tmp_path / "x"
    path.write_bytes(b"abc")
    assert weights.file_digest(path) == hashlib.sha256(b"abc").hexdigest()
