"""FirestoreLauncher on the Firestore emulator: what its documents look like, and which
starter it uses. The port's guarantees (alive, goodbye, claim_starts, spawned workers
beating, with the ``local`` starter) are in tests/contract/test_launcher_contract.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google.cloud import firestore

from cutout.gcp import open_gcp_backends
from cutout.gcp.cloudrun import CloudRunJob
from cutout.gcp.launcher import BEAT_TTL, STARTS_DOCUMENT, FirestoreLauncher
from cutout.ports import WorkerBeat
from cutout.settings import Settings
from cutout.worker_processes import WorkerProcesses

pytestmark = pytest.mark.emulator


def raw_client(settings: Settings) -> firestore.Client:
    return firestore.Client(project=settings.gcp_project)


def test_heartbeat_documents_carry_a_ttl_and_the_start_time(gcp_settings: Settings) -> None:
    launcher = open_gcp_backends(gcp_settings).launcher
    now = datetime.now(UTC)
    started = now - timedelta(seconds=30)
    launcher.beat(WorkerBeat("w1", at=now, busy=True, jobs_done=3, started_at=started))
    doc = raw_client(gcp_settings).collection("workers").document("w1").get().to_dict()
    assert doc is not None
    assert doc["expire_at"] - doc["at"] == BEAT_TTL
    assert abs(doc["started_at"] - started) < timedelta(milliseconds=1)
    launcher.goodbye("w1")
    doc = raw_client(gcp_settings).collection("workers").document("w1").get().to_dict()
    assert doc is not None and doc["expire_at"] - doc["gone_at"] == BEAT_TTL


def test_start_records_live_in_one_document_pruned_to_the_window(gcp_settings: Settings) -> None:
    launcher = open_gcp_backends(gcp_settings).launcher
    launcher.claim_starts(lambda records: 2, window_s=60)
    launcher.claim_starts(lambda records: 1, window_s=60)
    ref = raw_client(gcp_settings).collection("workers_starts").document(STARTS_DOCUMENT)
    assert [r["count"] for r in (ref.get().to_dict() or {})["records"]] == [2, 1]
    ref.set({"records": [{"at": datetime.now(UTC) - timedelta(hours=1), "count": 5}]})
    assert launcher.claim_starts(lambda records: len(records), window_s=60) == 0
    assert (ref.get().to_dict() or {})["records"] == []  # the old record was dropped


def test_backends_choose_the_starter_from_the_settings(gcp_settings: Settings) -> None:
    cloud = open_gcp_backends(gcp_settings).launcher
    local = open_gcp_backends(gcp_settings.with_overrides(launcher="local")).launcher
    assert isinstance(cloud, FirestoreLauncher) and isinstance(local, FirestoreLauncher)
    assert isinstance(cloud._starter, CloudRunJob)
    assert isinstance(local._starter, WorkerProcesses)


def test_start_refuses_a_negative_count(gcp_settings: Settings) -> None:
    settings = gcp_settings.with_overrides(launcher="local")
    launcher = open_gcp_backends(settings).launcher
    with pytest.raises(ValueError):
        launcher.start(-1)
    launcher.start(0)
    assert isinstance(launcher, FirestoreLauncher)
    assert isinstance(launcher._starter, WorkerProcesses) and launcher._starter.running() == []
