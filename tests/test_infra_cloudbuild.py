"""cloudbuild.yaml: tests before builds, both images built, pushed and rolled out to the
Terraform-made job and service, and substitutions that Cloud Build will accept."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import yaml

from tests.support.infra import ROOT, dockerfile, terraform

BUILTINS = {"PROJECT_ID", "BUILD_ID", "PROJECT_NUMBER", "LOCATION", "SHORT_SHA", "COMMIT_SHA"}


@cache
def config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
    return loaded


def steps() -> dict[str, dict[str, Any]]:
    result = {step["id"]: step for step in config()["steps"]}
    assert len(result) == len(config()["steps"]), "step ids must be unique"
    return result


def needs(step_id: str) -> set[str]:
    """Every step that ``step_id`` waits for, directly or not."""
    all_steps = steps()
    order = list(all_steps)
    direct = all_steps[step_id].get("waitFor")
    if direct is None:  # Cloud Build's default: every earlier step
        direct = order[: order.index(step_id)]
    found: set[str] = set()
    for dep in direct:
        if dep != "-":
            found |= {dep} | needs(dep)
    return found


def test_pipeline_tests_then_builds_pushes_and_deploys() -> None:
    assert set(steps()) == {
        "tests",
        "terraform-validate",
        "build-worker",
        "build-ingest",
        "push-worker",
        "push-ingest",
        "deploy-worker",
        "deploy-ingest",
    }
    assert "pytest" in " ".join(steps()["tests"]["args"])
    assert "terraform -chdir=infra validate" in " ".join(steps()["terraform-validate"]["args"])
    for image in ("worker", "ingest"):
        assert {"tests", "terraform-validate"} <= needs(f"build-{image}")
        assert f"build-{image}" in needs(f"push-{image}")
    assert {"push-worker", "push-ingest"} <= needs("deploy-worker")
    assert "deploy-worker" in needs("deploy-ingest")


def _image(name: str) -> str:
    return "${_REGION}-docker.pkg.dev/${PROJECT_ID}/${_REPOSITORY}/" + name


def test_builds_use_the_dockerfiles_and_pass_the_weights() -> None:
    for image in ("worker", "ingest"):
        args = steps()[f"build-{image}"]["args"]
        assert args[0] == "build" and args[-1] == "."
        assert f"--file=Dockerfile.{image}" in args
        assert f"--tag={_image(image)}:${{_TAG}}" in args
        assert "--build-arg=WEIGHTS_SHA256=${_WEIGHTS_SHA256}" in args
        declared = {
            i.args.split("=", 1)[0] for i in dockerfile(f"Dockerfile.{image}") if i.keyword == "ARG"
        }
        passed = {a.split("=", 2)[1] for a in args if a.startswith("--build-arg=")}
        assert passed - {"BUILDKIT_INLINE_CACHE"} <= declared, f"Dockerfile.{image} lacks an ARG"
    assert f"{_image('worker')}:${{_TAG}}" in config()["images"]


def test_deploys_update_only_the_image_of_terraforms_resources() -> None:
    tf = terraform()
    subs = config()["substitutions"]
    prefix = tf.default("name_prefix")
    assert subs["_REPOSITORY"] == prefix
    assert subs["_WORKER_JOB"] == tf.locals["worker_job_name"].replace("${var.name_prefix}", prefix)
    assert subs["_INGEST_SERVICE"] == tf.locals["ingest_service_name"].replace(
        "${var.name_prefix}", prefix
    )
    assert subs["_REGION"] == tf.default("region")
    for step_id, kind, name, image in (
        ("deploy-worker", "jobs", "${_WORKER_JOB}", "worker"),
        ("deploy-ingest", "services", "${_INGEST_SERVICE}", "ingest"),
    ):
        step = steps()[step_id]
        assert step["entrypoint"] == "gcloud"
        assert step["args"][:4] == ["run", kind, "update", name]
        assert f"--image={_image(image)}:${{_TAG}}" in step["args"]
        assert "--region=${_REGION}" in step["args"]


def test_substitutions_are_all_defined_and_all_used() -> None:
    """Cloud Build rejects a build whose substitutions don't match (unless ALLOW_LOOSE)."""
    text = (ROOT / "cloudbuild.yaml").read_text()
    body = text.split("\nsteps:", 1)[1]
    used = set(re.findall(r"\$\{?(_[A-Z0-9_]+)", body))
    defined = set(config()["substitutions"])
    assert used == defined
    builtins_used = set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)\}?", body)) - defined
    assert builtins_used <= BUILTINS, f"unknown substitutions: {builtins_used - BUILTINS}"
    assert "substitution_option" not in config().get("options", {})


def test_logs_go_to_cloud_logging_for_the_deployer_account() -> None:
    assert config()["options"]["logging"] == "CLOUD_LOGGING_ONLY"
    assert "--service-account=" in terraform().outputs["cloud_build_command"]["value"]
