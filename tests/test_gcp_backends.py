"""open_gcp_backends: configuration errors, and the wiring on the emulators."""

from __future__ import annotations

import builtins
from typing import Any

import pytest

from cutout.backends import open_backends
from cutout.errors import ConfigurationError
from cutout.gcp.firestore import FirestoreStatusStore
from cutout.gcp.gcs import GcsBlobStore
from cutout.gcp.launcher import FirestoreLauncher
from cutout.gcp.pubsub import PubSubJobQueue
from cutout.settings import Settings


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({}, "CUTOUT_GCP_PROJECT, CUTOUT_UPLOADS_BUCKET, CUTOUT_RESULTS_BUCKET"),
        ({"gcp_project": "p", "uploads_bucket": "u"}, "CUTOUT_RESULTS_BUCKET"),
    ],
)
def test_missing_settings_are_named(settings: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigurationError, match=f"needs {named}$"):
        open_backends(Settings(backend="gcp", **settings))


@pytest.mark.parametrize("prefix", ["goog-x", "1abc", "a b"])
def test_bad_topic_prefix_is_named(prefix: str) -> None:
    settings = Settings(
        backend="gcp", gcp_project="p", uploads_bucket="u", results_bucket="r", topic_prefix=prefix
    )
    with pytest.raises(ConfigurationError, match=f"CUTOUT_TOPIC_PREFIX '{prefix}'"):
        open_backends(settings)


def test_missing_client_library_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_pubsub(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("google.cloud") or name.startswith("cutout.gcp."):
            raise ImportError(f"No module named {name!r}", name="google.cloud.pubsub_v1")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pubsub)
    settings = Settings(backend="gcp", gcp_project="p", uploads_bucket="u", results_bucket="r")
    with pytest.raises(ConfigurationError, match=r"google\.cloud\.pubsub_v1 is missing"):
        open_backends(settings)


def test_no_credentials_outside_the_emulators_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    for name in ("PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST", "STORAGE_EMULATOR_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    settings = Settings(backend="gcp", gcp_project="p", uploads_bucket="u", results_bucket="r")
    with pytest.raises(ConfigurationError, match="Application Default Credentials"):
        open_backends(settings)


@pytest.mark.emulator
def test_emulator_wiring(gcp_settings: Settings) -> None:
    backends = open_backends(gcp_settings)
    assert isinstance(backends.blobs, GcsBlobStore)
    assert isinstance(backends.queue, PubSubJobQueue)
    assert isinstance(backends.status, FirestoreStatusStore)
    assert isinstance(backends.launcher, FirestoreLauncher)
    backends.blobs.put("uploads/x", b"x", content_type="text/plain")  # buckets were created
    assert backends.blobs.get("uploads/x") == b"x"
