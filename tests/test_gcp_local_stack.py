"""local_stack: what ``cutout up --backend gcp`` runs with. Starting and stopping the
emulators is covered by tests/test_cli_up_gcp.py; here, reusing running ones and the
errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from google.cloud import pubsub_v1

from cutout.errors import ConfigurationError
from cutout.gcp import emulators
from cutout.gcp.local_stack import EMULATOR_VARIABLES, local_stack
from cutout.gcp.topology import Names
from cutout.job import Priority
from cutout.settings import LauncherKind, Settings


@pytest.mark.emulator
def test_running_emulators_are_reused_with_default_names_and_a_ready_topology(
    gcp_emulators: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in gcp_emulators.items():
        monkeypatch.setenv(name, value)
    settings = Settings(backend="gcp", topic_prefix="stack" + os.urandom(4).hex())
    with local_stack(settings, tmp_path) as (ready, variables):
        assert variables == gcp_emulators
        assert (ready.gcp_project, ready.uploads_bucket, ready.results_bucket) == (
            "cutout-local",
            "cutout-uploads",
            "cutout-results",
        )
        assert ready.launcher is LauncherKind.LOCAL
        topic = Names(ready.gcp_project, ready.topic_prefix).topic(Priority.HIGH)
        assert pubsub_v1.PublisherClient().get_topic(request={"topic": topic}).name == topic
    assert not list(tmp_path.iterdir()), "nothing was started, so nothing logged"
    assert {name: os.environ[name] for name in EMULATOR_VARIABLES} == gcp_emulators


def test_missing_emulators_are_a_configuration_error_naming_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in EMULATOR_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(emulators, "missing", lambda: ["the Cloud SDK Pub/Sub emulator (x)"])
    with (
        pytest.raises(ConfigurationError, match="not installed: missing the Cloud SDK Pub/Sub"),
        local_stack(Settings(backend="gcp"), tmp_path),
    ):
        pass
    assert not any(os.environ.get(name) for name in EMULATOR_VARIABLES)
