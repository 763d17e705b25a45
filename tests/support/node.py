"""The JavaScript tools the tests use: Node and the npm packages in clients/ (installed
by ``npm ci`` from clients/package-lock.json; ``make test`` runs it)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ROOT / "clients"
NODE_MODULES = CLIENTS / "node_modules"


def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.fail("node is missing: install Node 20 (scripts/install-system-deps.sh)")
    return found


def npm_package(name: str) -> Path:
    """The installed package's folder; fails (never skips) when ``npm ci`` was not run."""
    folder = NODE_MODULES / name
    if not folder.is_dir():
        pytest.fail(f"{folder} is missing: run `npm ci` in clients/ (make test does)")
    return folder
