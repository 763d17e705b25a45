"""The emulator harness for tests: one set of servers per session, fresh names per test.

- ``gcp_emulators`` (session): starts Google's Pub/Sub and Firestore emulators and
  fake-gcs-server on free ports and stops them by PID at the end; reuses servers already
  named by all three ``*_EMULATOR_HOST`` variables if they answer (keep them running
  with ``python -m cutout.gcp.emulators start`` for quicker reruns).
- ``gcp_settings`` (per test): GCP settings with a unique topic prefix and bucket names,
  an empty Firestore, and the emulator variables set for the test only.

Without the Cloud SDK or fake-gcs-server the tests that need them are skipped with the
reason, and the run ends with one loud ``NOT TESTED`` line; ``--require-emulators``
turns that into a failure (CI on a machine image that has them).
"""

from __future__ import annotations

import os
import urllib.request
import uuid
from collections.abc import Iterator

import pytest

from cutout.gcp import emulators
from cutout.settings import Settings

PROJECT = "cutout-test"
_NOT_TESTED = pytest.StashKey[str]()
_VARIABLES = ("PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST", "STORAGE_EMULATOR_HOST")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--require-emulators",
        action="store_true",
        help="fail, instead of skipping, tests whose GCP emulators are not installed",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    needing = [item for item in items if item.get_closest_marker("emulator")]
    gaps = emulators.missing()
    if needing and gaps:
        config.stash[_NOT_TESTED] = (
            f"NOT TESTED: {len(needing)} emulator tests (the Google Cloud adapters, the "
            "gcp contract family, end to end on the emulators, cutout up --backend gcp): "
            f"missing {'; '.join(gaps)}"
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    """The NOT TESTED line comes last, after pytest's own summary, where nobody misses it."""
    line = config.stash.get(_NOT_TESTED, None)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if line and reporter is not None:
        reporter.write_line(line, red=True, bold=True)


@pytest.fixture(scope="session")
def gcp_emulators(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """The ``*_EMULATOR_HOST`` variables of three running servers."""
    reused = {name: os.environ.get(name, "") for name in _VARIABLES}
    if all(reused.values()) and _answering(reused):
        yield reused
        return
    require_installed(request)
    servers = emulators.start_all(tmp_path_factory.mktemp("emulators"))
    try:
        yield emulators.env_of(servers)
    finally:
        emulators.stop_all(servers)


def require_installed(request: pytest.FixtureRequest) -> None:
    """Skip the test (fail it with ``--require-emulators``) if an emulator is missing."""
    gaps = emulators.missing()
    if gaps:
        reason = "GCP emulators not installed: missing " + "; ".join(gaps)
        if request.config.getoption("--require-emulators"):
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture
def gcp_settings(gcp_emulators: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings for one test: its own topics and buckets, an empty Firestore."""
    for name, value in gcp_emulators.items():
        monkeypatch.setenv(name, value)
    reset_firestore(gcp_emulators["FIRESTORE_EMULATOR_HOST"])
    return settings_for("t" + uuid.uuid4().hex[:12])


def settings_for(uid: str) -> Settings:
    """GCP settings whose topics and buckets are named after ``uid`` (a letter, then
    lowercase letters and digits): the shortest lease Pub/Sub allows, immediate retries."""
    return Settings(
        backend="gcp",
        gcp_project=PROJECT,
        uploads_bucket=f"{uid}-uploads",
        results_bucket=f"{uid}-results",
        topic_prefix=uid,
        lease_s=10,
        retry_base_s=0.0,
    )


def reset_firestore(host: str, project: str = PROJECT) -> None:
    """Delete every document in the emulator's default database."""
    url = f"http://{host}/emulator/v1/projects/{project}/databases/(default)/documents"
    with urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=10):
        pass


def _answering(env: dict[str, str]) -> bool:
    urls = (
        f"http://{env['PUBSUB_EMULATOR_HOST']}/v1/projects/p/topics",
        f"http://{env['FIRESTORE_EMULATOR_HOST']}/",
        f"{env['STORAGE_EMULATOR_HOST']}/storage/v1/b",
    )
    try:
        for url in urls:
            with urllib.request.urlopen(url, timeout=2):
                pass
    except OSError:
        return False
    return True
