"""Fixtures shared by every test module: isolated settings, real local adapters, photos."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cutout.settings import Settings
from tests.support.pipeline import Pipeline, run_pipeline

pytest_plugins = [
    "tests.support.emulators",
    "tests.support.model",
    "tests.support.redis_server",
    "tests.support.worker",
]

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    """The whole local pipeline, started with ``cutout up`` (see tests/support/pipeline.py)."""
    yield from run_pipeline(tmp_path)


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's CUTOUT_* variables or ~/.transparent-background."""
    import os

    for name in list(os.environ):
        if name.startswith("CUTOUT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", url_secret="test-secret")


@pytest.fixture
def fixture_bytes() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in FIXTURES.glob("*.png")}
