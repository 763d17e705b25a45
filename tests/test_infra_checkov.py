"""checkov over infra/ (Terraform) and both Dockerfiles: no failed check, and every
skipped one carries its reason inline (``#checkov:skip=ID:reason``)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.infra import run_checkov

TARGETS = {
    "terraform": ["infra"],
    "dockerfile": ["Dockerfile.worker", "Dockerfile.ingest"],
}


@pytest.mark.slow
@pytest.mark.parametrize("framework", sorted(TARGETS))
def test_checkov_passes_with_reasoned_skips(framework: str) -> None:
    report = run_checkov(framework, TARGETS[framework])
    summary = report["summary"]
    results: dict[str, Any] = report["results"]
    assert summary["parsing_errors"] == 0, results.get("parsing_errors")
    assert summary["passed"] > 0, "checkov evaluated nothing: are the targets right?"
    failed = [
        f"{c['check_id']} {c['resource']} {c['file_path']}:{c['file_line_range']} {c['check_name']}"
        for c in results["failed_checks"]
    ]
    assert not failed, "checkov failures:\n" + "\n".join(failed)
    for check in results["skipped_checks"]:
        reason = (check["check_result"].get("suppress_comment") or "").strip()
        assert len(reason) >= 20 and reason != "No comment provided", (
            f"{check['check_id']} on {check['resource']} is skipped without a reason"
        )
