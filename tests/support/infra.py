"""Shared readers for the infra static checks: Terraform (python-hcl2), Dockerfiles,
requirement pins, and the runners for checkov and hadolint.

The external tools live in their own venv (``.venv-checkov``, made by
``infra/tools/install.sh``). When it is missing, a check fails in CI (``CI`` set) and is
skipped on a developer machine with a message naming what was not checked.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
TOOLS_VENV = Path(os.environ.get("CUTOUT_CHECKS_VENV", ROOT / ".venv-checkov"))
TOOL_TIMEOUT_S = 300

_HCL_OPTIONS = hcl2.SerializationOptions(
    with_comments=False, explicit_blocks=False, strip_string_quotes=True
)


# ---- Terraform ----------------------------------------------------------------------


@dataclass(frozen=True)
class Terraform:
    """Every top-level block of infra/*.tf, merged across files."""

    resources: dict[tuple[str, str], dict[str, Any]]
    variables: dict[str, dict[str, Any]]
    locals: dict[str, Any]
    outputs: dict[str, dict[str, Any]]

    def of_type(self, rtype: str) -> dict[str, dict[str, Any]]:
        return {name: body for (t, name), body in self.resources.items() if t == rtype}

    def resource(self, rtype: str, name: str) -> dict[str, Any]:
        assert (rtype, name) in self.resources, f"infra/ has no {rtype}.{name}"
        return self.resources[(rtype, name)]

    def default(self, variable: str) -> Any:
        assert variable in self.variables, f"infra/ has no variable {variable}"
        assert "default" in self.variables[variable], f"variable {variable} has no default"
        return self.variables[variable]["default"]


@cache
def terraform() -> Terraform:
    resources: dict[tuple[str, str], dict[str, Any]] = {}
    variables: dict[str, dict[str, Any]] = {}
    local_values: dict[str, Any] = {}
    outputs: dict[str, dict[str, Any]] = {}
    for path in sorted(INFRA.glob("*.tf")):
        with path.open() as fh:
            doc = hcl2.load(fh, serialization_options=_HCL_OPTIONS)
        for entry in doc.get("resource", []):
            for rtype, named in entry.items():
                for name, body in named.items():
                    assert (rtype, name) not in resources, f"{rtype}.{name} defined twice"
                    resources[(rtype, name)] = body
        for entry in doc.get("variable", []):
            variables.update(entry)
        for entry in doc.get("locals", []):
            local_values.update(entry)
        for entry in doc.get("output", []):
            outputs.update(entry)
    return Terraform(resources, variables, local_values, outputs)


def block(body: dict[str, Any], key: str) -> dict[str, Any]:
    """The single nested block ``key`` of a resource body (hcl2 gives blocks as lists)."""
    blocks = body.get(key)
    assert isinstance(blocks, list) and len(blocks) == 1, f"expected one {key!r} block"
    return blocks[0]


def ref(expr: str) -> str:
    """``"${var.x}"`` → ``"var.x"``; anything that is not a lone reference is returned as is."""
    match = re.fullmatch(r"\$\{([^${}]+)\}", expr) if isinstance(expr, str) else None
    return match.group(1) if match else expr


# ---- Dockerfiles --------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    stage: int  # index of the FROM it belongs to
    keyword: str  # upper-case: FROM, RUN, COPY …
    args: str  # continuation lines joined


def dockerfile(name: str) -> list[Instruction]:
    """Instructions of a Dockerfile, comments dropped and continuation lines joined."""
    logical: list[str] = []
    pending = ""
    for raw in (ROOT / name).read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, f"{name} ends inside a continued line"
    result: list[Instruction] = []
    stage = -1
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        result.append(Instruction(stage, keyword, args.strip()))
    return result


# ---- requirement pins ---------------------------------------------------------------


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """``name==version`` lines of a requirements file; anything unpinned is an error."""
    result: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!-]+)", line)
        assert match, f"{path.name}: {line!r} is not pinned as name==version"
        result[canonical(match.group(1))] = match.group(2)
    return result


# ---- external tools -----------------------------------------------------------------


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def tool(name: str, checks: str) -> Path:
    """Path of a tool in the checks venv; fails in CI and skips loudly elsewhere if absent."""
    path = TOOLS_VENV / "bin" / name
    if path.is_file():
        return path
    message = (
        f"{name} is not installed in {TOOLS_VENV}, so {checks} NOT CHECKED; "
        "install it with `bash infra/tools/install.sh` (make infra-tools)"
    )
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


def run_checkov(framework: str, targets: list[str]) -> dict[str, Any]:
    """checkov's JSON report for one framework. Offline: nothing is fetched from its
    vendor's platform (--skip-download)."""
    exe = tool("checkov", f"checkov ({framework}) findings are")
    args = [str(exe), "--framework", framework, "--skip-download", "-o", "json"]
    for target in targets:
        args += ["-d" if (ROOT / target).is_dir() else "-f", target]
    proc = subprocess.run(
        args, cwd=ROOT, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False
    )
    assert proc.returncode in (0, 1), f"checkov crashed ({proc.returncode}):\n{proc.stderr}"
    report = json.loads(proc.stdout)
    assert isinstance(report, dict), f"expected one checkov report, got {type(report)}"
    return report


def run_hadolint(name: str) -> list[dict[str, Any]]:
    exe = tool("hadolint", f"hadolint findings for {name} are")
    proc = subprocess.run(
        [str(exe), "--format", "json", name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT_S,
        check=False,
    )
    assert proc.stdout.strip(), f"hadolint printed nothing ({proc.returncode}): {proc.stderr}"
    findings: list[dict[str, Any]] = json.loads(proc.stdout)
    return findings
