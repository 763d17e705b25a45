"""Dockerfile.worker and Dockerfile.ingest: hadolint clean, pinned bases and packages,
weights baked at build time with checksum verification, non-root at run time, and a
build context that holds every file the COPY lines need."""

from __future__ import annotations

import fnmatch
import importlib.util
import re
from pathlib import Path

import pytest
import yaml

from cutout.worker_processes import WORKER_ENV
from tests.support.infra import ROOT, Instruction, dockerfile, pins, run_hadolint

DOCKERFILES = ["Dockerfile.worker", "Dockerfile.ingest"]


def final_stage(name: str) -> list[Instruction]:
    instructions = dockerfile(name)
    last = max(i.stage for i in instructions)
    return [i for i in instructions if i.stage == last]


def env(instructions: list[Instruction]) -> dict[str, str]:
    result: dict[str, str] = {}
    for i in instructions:
        if i.keyword == "ENV":
            result.update(re.findall(r"(\w+)=(\S+)", i.args))
    return result


@pytest.mark.parametrize("name", DOCKERFILES)
def test_hadolint_finds_nothing(name: str) -> None:
    findings = run_hadolint(name)
    assert not findings, "\n".join(f"{f['line']}: {f['code']} {f['message']}" for f in findings)


@pytest.mark.parametrize("name", DOCKERFILES)
def test_base_images_are_pinned_to_a_release_tag(name: str) -> None:
    stages = {
        i.args.split()[-1] for i in dockerfile(name) if i.keyword == "FROM" and " AS " in i.args
    }
    for i in dockerfile(name):
        if i.keyword != "FROM":
            continue
        image = i.args.split()[0]
        if image in stages:
            continue
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest" and "$" not in image, f"{name}: unpinned {image}"


@pytest.mark.parametrize("name", DOCKERFILES)
def test_runs_as_non_root(name: str) -> None:
    users = [i.args for i in final_stage(name) if i.keyword == "USER"]
    assert users, f"{name}: the final stage never leaves root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}, f"{name}: runs as {users[-1]}"


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dependencies_are_installed_from_pins_only(name: str) -> None:
    installs = [i.args for i in dockerfile(name) if i.keyword == "RUN" and "pip install" in i.args]
    assert installs
    for command in installs:
        for part in command.split("&&"):
            if "pip install" not in part:
                continue
            words = part.split()
            if "--no-deps" in words:  # the project itself, its dependencies already pinned
                assert words[-1] == "/opt/cutout/src", part
                continue
            assert "-r" in words and "-c" in words, f"{name}: unpinned install: {part.strip()}"
            assert Path(words[words.index("-c") + 1]).name == "constraints.txt"


def test_worker_base_torch_is_the_pinned_cuda12_build() -> None:
    """Cloud Run's L4 driver (535) runs CUDA 12.x only; pip must keep the base's torch."""
    base = dockerfile("Dockerfile.worker")[0].args.split()[0]
    match = re.fullmatch(r"pytorch/pytorch:([\d.]+)-cuda(\d+)\.\d+-cudnn\d+-runtime", base)
    assert match, f"worker base {base} is not a PyTorch CUDA runtime image"
    assert match.group(1) == pins(ROOT / "requirements.txt")["torch"]
    assert match.group(2) == "12"
    guard = " ".join(i.args for i in dockerfile("Dockerfile.worker") if i.keyword == "RUN")
    assert "torch.version.cuda" in guard and "startswith('12.')" in guard


def test_worker_bakes_verified_weights_as_safetensors() -> None:
    instructions = dockerfile("Dockerfile.worker")
    runs = [i.args for i in instructions if i.keyword == "RUN"]
    fetch = next(r for r in runs if "fetch_weights.py" in r)
    assert '"${WEIGHTS_URI}" "${WEIGHTS_SHA256}"' in fetch
    convert = next(r for r in runs if "cutout convert-weights" in r)
    source, dest = convert.split("cutout convert-weights", 1)[1].split()[:2]
    assert fetch.split()[-1] == source and dest.endswith(".safetensors")
    runtime = env(final_stage("Dockerfile.worker"))
    assert runtime["CUTOUT_WEIGHTS"] == dest
    assert runtime["CUTOUT_MODEL_VERSION"] == "${WEIGHTS_SHA256}"
    assert runtime["CUTOUT_DEVICE"] == "cuda"
    assert runtime["CUTOUT_MODEL_RUNTIME"] == "torch"  # OpenVINO is the CPU's runtime
    copies = [i.args for i in final_stage("Dockerfile.worker") if i.keyword == "COPY"]
    assert any(c.startswith("--from=weights ") and dest.startswith(c.split()[-1]) for c in copies)
    entry = [i.args for i in final_stage("Dockerfile.worker") if i.keyword in {"ENTRYPOINT", "CMD"}]
    assert entry == ['["cutout"]', '["worker"]']


def test_default_weights_are_transparent_backgrounds_base_checkpoint() -> None:
    spec = importlib.util.find_spec("transparent_background")
    assert spec and spec.submodule_search_locations, "transparent-background is not installed"
    package_config = Path(next(iter(spec.submodule_search_locations))) / "config.yaml"
    url = yaml.safe_load(package_config.read_text())["base"]["url"]
    args = [i.args for i in dockerfile("Dockerfile.worker") if i.keyword == "ARG"]
    assert f"WEIGHTS_URI={url}" in args
    cloudbuild = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
    assert cloudbuild["substitutions"]["_WEIGHTS_URI"] == url


def test_the_worker_image_runs_with_the_worker_environment() -> None:
    """What a worker started here gets (cutout.worker_processes.WORKER_ENV), the image sets."""
    assert env(final_stage("Dockerfile.worker")).items() >= WORKER_ENV.items()


def test_ingest_serves_the_function_with_the_workers_model_version() -> None:
    final = final_stage("Dockerfile.ingest")
    cmd = next(i.args for i in final if i.keyword == "CMD")
    assert cmd == (
        '["functions-framework", "--target=handle", "--source=ingest/main.py", "--port=8080"]'
    )
    assert env(final)["CUTOUT_MODEL_VERSION"] == "${WEIGHTS_SHA256}"
    worker = env(final_stage("Dockerfile.worker"))
    assert env(final)["CUTOUT_MODEL_RUNTIME"] == worker["CUTOUT_MODEL_RUNTIME"]  # cache keys
    assert not any(
        "torch" in line
        for line in (ROOT / "infra/docker/ingest-requirements.txt").read_text().splitlines()
        if not line.startswith("#")
    )


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern also covers what is below."""
    ignored = False
    parts = path.split("/")
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern.lstrip("!").removeprefix("**/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        if any(
            fnmatch.fnmatchcase(p, pat) or fnmatch.fnmatchcase(p.split("/")[-1], pat)
            for p in prefixes
        ):
            ignored = not negate
    return ignored


@pytest.mark.parametrize("name", DOCKERFILES)
def test_copy_sources_exist_in_the_build_context(name: str) -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for i in dockerfile(name):
        if i.keyword != "COPY" or i.args.startswith("--from="):
            continue
        for source in i.args.split()[:-1]:
            if source == ".":
                continue
            assert (ROOT / source).is_file(), f"{name}: COPY {source}: no such file"
            assert not _ignored(source, patterns), f"{name}: .dockerignore drops {source}"
    for kept in ("cutout/settings.py", "pyproject.toml", "constraints.txt"):
        assert not _ignored(kept, patterns), f".dockerignore drops {kept}"
    for dropped in ("tests/fixtures/chelsea.png", ".git/HEAD", "infra/main.tf", ".venv-checkov"):
        assert _ignored(dropped, patterns), f".dockerignore lets {dropped} into the context"
