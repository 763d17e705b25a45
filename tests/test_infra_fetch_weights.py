"""infra/docker/fetch_weights.py, run as the image build runs it: the weights land only
when their sha256 matches, and every bad input is a clear error with no file left."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.infra import ROOT

SCRIPT = ROOT / "infra" / "docker" / "fetch_weights.py"


def fetch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def checkpoint(tmp_path: Path) -> tuple[Path, str]:
    data = bytes(range(256)) * 5000  # 1.28 MB: more than one read chunk
    path = tmp_path / "ckpt_base.pth"
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def test_matching_checksum_writes_the_exact_bytes(
    checkpoint: tuple[Path, str], tmp_path: Path
) -> None:
    source, sha = checkpoint
    dest = tmp_path / "out" / "weights.pth"
    proc = fetch(source.as_uri(), sha.upper(), str(dest))
    assert proc.returncode == 0, proc.stderr
    assert dest.read_bytes() == source.read_bytes()
    assert sha in proc.stdout
    assert [p.name for p in dest.parent.iterdir()] == ["weights.pth"]


def test_mismatch_fails_and_leaves_nothing(checkpoint: tuple[Path, str], tmp_path: Path) -> None:
    source, sha = checkpoint
    wrong = hashlib.sha256(b"something else").hexdigest()
    dest = tmp_path / "out" / "weights.pth"
    proc = fetch(source.as_uri(), wrong, str(dest))
    assert proc.returncode == 1
    assert f"expected {wrong}, got {sha}" in proc.stderr
    assert list(dest.parent.iterdir()) == []


@pytest.mark.parametrize(
    ("uri", "sha", "message"),
    [
        ("file:///x", "", "must be 64 hex digits"),
        ("file:///x", "abc", "must be 64 hex digits"),
        ("gs://bucket/ckpt.pth", "0" * 64, "unsupported weights URI"),
        ("ckpt.pth", "0" * 64, "unsupported weights URI"),
        ("file:///nonexistent/ckpt.pth", "0" * 64, "cannot fetch"),
    ],
)
def test_bad_input_is_a_clear_error(uri: str, sha: str, message: str, tmp_path: Path) -> None:
    proc = fetch(uri, sha, str(tmp_path / "weights.pth"))
    assert proc.returncode == 1
    assert message in proc.stderr
    assert not (tmp_path / "weights.pth").exists()


def test_wrong_argument_count_prints_usage() -> None:
    proc = fetch("only-one")
    assert proc.returncode == 2
    assert "Usage: fetch_weights.py URI SHA256 DEST" in proc.stderr
