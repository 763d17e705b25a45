"""cutout.js (clients/cutout.js): its Node test suite (clients/test/, ``node --test``)
against a real ``cutout up``, and its type declarations checked with ``tsc --noEmit``
over an example a shop would write. A failing Node test fails this test."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator

import pytest
import requests

from tests.support.node import CLIENTS, node, npm_package
from tests.support.pipeline import Pipeline, run_pipeline


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    yield from run_pipeline(tmp_path_factory.mktemp("js-client"))


@pytest.mark.slow
def test_node_suite_against_cutout_up(stack: Pipeline) -> None:
    run = subprocess.run(
        [node(), "--test", "--test-reporter=spec", "test/"],
        cwd=CLIENTS,
        env={**os.environ, "CUTOUT_URL": stack.url},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr + stack.log.read_text()
    counts = dict(re.findall(r"^\S (tests|pass|fail) (\d+)$", run.stdout, re.MULTILINE))
    assert counts.get("fail") == "0" and int(counts.get("pass", 0)) >= 10, run.stdout


def test_ingest_serves_the_client_at_a_versioned_path(stack: Pipeline) -> None:
    answer = requests.get(f"{stack.url}/v1/cutout.js", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/javascript")
    assert answer.content == (CLIENTS / "cutout.js").read_bytes()


def test_type_declarations_check_against_the_example() -> None:
    tsc = npm_package("typescript") / "bin" / "tsc"
    run = subprocess.run(
        [node(), str(tsc), "--noEmit", "-p", str(CLIENTS)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr
