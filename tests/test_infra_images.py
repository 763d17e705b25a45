"""What goes into each image: the pinned requirement subsets in infra/docker/ must agree
with the project's pins and cover every third-party import the image's code can reach,
and the commands the images run must exist. Imports are read with ``ast``, not
executed, so nothing heavy is imported here."""

from __future__ import annotations

import ast
import json
import re
import sys
import tomllib
from collections.abc import Iterable
from functools import cache
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.support.infra import ROOT, Instruction, canonical, dockerfile, pins

FIRST_PARTY = ("cutout", "ingest", "worker", "effects")


def module_file(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def package_of(path: Path) -> str:
    """The package relative imports in ``path`` are resolved against."""
    parts = list(path.relative_to(ROOT).parent.parts)
    return ".".join(parts)


def _optional_imports(tree: ast.AST) -> set[int]:
    """ids of import nodes inside ``try: … except ImportError`` (callers cope without them)."""
    optional: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        caught = {
            n.id
            for handler in node.handlers
            if handler.type is not None
            for n in ast.walk(handler.type)
            if isinstance(n, ast.Name)
        }
        if caught & {"ImportError", "ModuleNotFoundError"}:
            optional.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return optional


def imports_of(path: Path, package: str = "") -> set[str]:
    """Absolute dotted names the file imports anywhere (lazy imports included), except
    those guarded by ``except ImportError``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    optional = _optional_imports(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in optional:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, node.module] if node.module else anchor)
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def reachable_third_party(start: Iterable[Path]) -> set[str]:
    """Third-party modules imported by ``start`` or by first-party code it imports."""
    todo = list(start)
    seen: set[Path] = set()
    third: set[str] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imports_of(path, package_of(path)):
            top = name.split(".")[0]
            if top in FIRST_PARTY:
                target = module_file(name)
                if target is not None:
                    todo.append(target)
            elif top not in sys.stdlib_module_names and top != "__future__":
                third.add(name)
    return third


@cache
def _top_level_dists() -> dict[str, list[str]]:
    return {k: [canonical(d) for d in v] for k, v in metadata.packages_distributions().items()}


def providers(module: str) -> set[str]:
    """Installed distributions that could provide ``module`` (namespace packages such
    as ``google`` are resolved by the files each distribution installs)."""
    top = module.split(".")[0]
    candidates = _top_level_dists().get(top, [])
    if len(candidates) <= 1:
        return set(candidates)
    parts = module.split(".")
    wanted = {f"{'/'.join(parts[:n])}/__init__.py" for n in range(2, len(parts) + 1)}
    wanted |= {f"{'/'.join(parts[:n])}.py" for n in range(2, len(parts) + 1)}
    narrowed = {
        name
        for name in candidates
        if any(str(f) in wanted for f in metadata.distribution(name).files or [])
    }
    return narrowed or set(candidates)


def python_files(*packages: str) -> list[Path]:
    return [p for pkg in packages for p in sorted((ROOT / pkg).rglob("*.py"))]


def closure(names: Iterable[str]) -> set[str]:
    """The listed distributions and everything they install with them (no extras)."""
    todo = [canonical(n) for n in names]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for line in metadata.requires(name) or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(canonical(req.name))
    return seen


def uncovered(requirements: str, code: list[Path]) -> dict[str, set[str]]:
    """Imported modules that no distribution the image installs provides."""
    installed = closure(pins(ROOT / "infra" / "docker" / requirements))
    missing: dict[str, set[str]] = {}
    for module in sorted(reachable_third_party(code)):
        found = providers(module)
        assert found, f"{module} is imported but no installed distribution provides it"
        if not found & installed:
            missing[module] = found
    return missing


@pytest.mark.parametrize("image", ["worker", "ingest"])
def test_image_requirements_agree_with_the_project_pins(image: str) -> None:
    project = pins(ROOT / "requirements.txt") | pins(ROOT / "constraints.txt")
    image_pins = pins(ROOT / "infra" / "docker" / f"{image}-requirements.txt")
    assert image_pins
    wrong = {n: v for n, v in image_pins.items() if project.get(n) != v}
    assert not wrong, f"{image}-requirements.txt disagrees with requirements.txt: {wrong}"


def test_worker_image_covers_every_import() -> None:
    code = python_files("cutout", "worker", "effects")
    assert code
    missing = uncovered("worker-requirements.txt", code)
    assert not missing, f"add to infra/docker/worker-requirements.txt: {missing}"


def test_ingest_image_covers_every_import_reachable_from_ingest() -> None:
    code = python_files("ingest")
    assert code
    missing = uncovered("ingest-requirements.txt", code)
    assert not missing, f"add to infra/docker/ingest-requirements.txt: {missing}"


def test_import_scan_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    """The scanner itself: it must not miss imports hidden in functions."""
    source = tmp_path / "probe.py"
    source.write_text(
        "import os\nfrom .sibling import x\n\n"
        "def f():\n    import yaml\n    from google.cloud import storage\n"
        "    try:\n        import fancy_optional\n    except ImportError:\n        pass\n"
    )
    found = imports_of(source, "worker.segmenters")
    assert {"os", "yaml", "google.cloud", "google.cloud.storage"} <= found
    assert "fancy_optional" not in found
    assert "worker.segmenters.sibling.x" in found
    assert reachable_third_party([ROOT / "cutout" / "settings.py"]) >= {"pydantic"}
    assert {"google-auth", "google-api-core"} <= closure(["google-cloud-storage"])
    assert "torch" not in closure(["google-cloud-storage"])
    assert "google-cloud-storage" in providers("google.cloud.storage")
    assert providers("google.cloud.storage") != providers("google.cloud.pubsub")


def _cli_commands() -> dict[str, tuple[Path, str]]:
    """``cutout`` subcommands: name → (file, function) for entry points, and for commands
    defined in cutout/cli/ (file, ``""``)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names: dict[str, tuple[Path, str]] = {}
    for name, target in project.get("entry-points", {}).get("cutout.commands", {}).items():
        module, _, function = target.partition(":")
        path = module_file(module)
        assert path is not None, f"entry point {name}: no module {module}"
        names[name] = (path, function)
    for path in (ROOT / "cutout" / "cli").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "command":
                names.update(
                    (a.value, (path, "")) for a in node.args if isinstance(a, ast.Constant)
                )
            if isinstance(node, ast.FunctionDef) and _is_click_command(node):
                names.setdefault(node.name, (path, node.name))
    return names


def _is_click_command(node: ast.FunctionDef) -> bool:
    return any(
        isinstance(d, ast.Call) and getattr(d.func, "attr", "") == "command"
        for d in node.decorator_list
    )


def _defines_command(path: Path, function: str) -> bool:
    if not function:
        return True
    tree = ast.parse(path.read_text())
    return any(
        isinstance(n, ast.FunctionDef) and n.name == function and _is_click_command(n)
        for n in ast.walk(tree)
    )


def worker_image_commands() -> set[str]:
    """The ``cutout`` subcommands Dockerfile.worker runs: its default ``CMD`` (the
    entry point is ``cutout``) and every ``cutout <name>`` in a ``RUN``."""
    instructions = dockerfile("Dockerfile.worker")
    entry = [json.loads(i.args) for i in instructions if i.keyword == "ENTRYPOINT"]
    assert entry and entry[-1] == ["cutout"], f"the worker image's entry point is {entry}"
    found = {json.loads(i.args)[0] for i in instructions if i.keyword == "CMD"}
    for run in (i.args for i in instructions if i.keyword == "RUN"):
        found.update(re.findall(r"(?:^|[\s;&|])cutout\s+([a-z][a-z0-9-]*)", run))
    return found


def test_commands_the_worker_image_runs_exist() -> None:
    runs = worker_image_commands()
    assert {"worker", "convert-weights"} <= runs  # what the reader finds today
    commands = _cli_commands()
    unknown = runs - set(commands)
    assert not unknown, f"Dockerfile.worker runs `cutout {sorted(unknown)}`: no such command"
    for name in runs:
        path, function = commands[name]
        assert _defines_command(path, function), f"`cutout {name}`: {path} has no {function}"


def test_the_command_reader_sees_a_missing_command(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = [
        Instruction(0, "RUN", "pip install . && cutout convert-weights a b && cutout nonesuch"),
        Instruction(0, "ENTRYPOINT", '["cutout"]'),
        Instruction(0, "CMD", '["worker"]'),
    ]
    monkeypatch.setattr(sys.modules[__name__], "dockerfile", lambda name: fake)
    assert worker_image_commands() == {"worker", "convert-weights", "nonesuch"}
    assert "nonesuch" not in _cli_commands()
    assert not _defines_command(ROOT / "worker" / "commands.py", "no_such_function")


def test_ingest_entry_point_exists() -> None:
    """Dockerfile.ingest's functions-framework target and source are a real function."""
    cmd = next(i.args for i in reversed(dockerfile("Dockerfile.ingest")) if i.keyword == "CMD")
    flags = dict(a.removeprefix("--").split("=", 1) for a in json.loads(cmd)[1:])
    main = ROOT / flags["source"]
    assert main.is_file(), f"Dockerfile.ingest serves {flags['source']}, which does not exist"
    functions = {
        n.name for n in ast.walk(ast.parse(main.read_text())) if isinstance(n, ast.FunctionDef)
    }
    assert flags["target"] in functions, f"{main} must define {flags['target']}"
