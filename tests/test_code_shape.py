"""Small modules with one job each: the size limits the project holds itself to
(benchmarks and tests aside), so a module that grows past them is split, not waved on."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("cutout", "ingest", "worker", "effects")
MAX_MODULE_LINES = 320
MAX_FUNCTION_LINES = 60
MAX_WORK_LINES = 45


def _modules() -> list[Path]:
    return [
        path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "bench" not in path.name
    ]


def _functions(path: Path) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    tree = ast.parse(path.read_text())
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def _length(node: ast.AST) -> int:
    return node.end_lineno - node.lineno + 1  # type: ignore[attr-defined]


def test_no_module_is_over_the_limit() -> None:
    modules = _modules()
    assert len(modules) > 50
    long = {
        str(p.relative_to(ROOT)): n
        for p in modules
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_function_is_over_the_limit() -> None:
    long = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({_length(node)} lines)"
        for path in _modules()
        for node in _functions(path)
        if _length(node) > MAX_FUNCTION_LINES
    ]
    assert long == []


def test_the_worker_loop_reads_in_one_screen() -> None:
    [work] = [n for n in _functions(ROOT / "worker" / "loop.py") if n.name == "work"]
    assert _length(work) <= MAX_WORK_LINES
