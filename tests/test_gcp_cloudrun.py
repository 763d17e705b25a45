"""CloudRunLauncher. No emulator exists for the Cloud Run Admin API, so ``start`` is
checked against a fake ``JobsClient`` (the request it builds, not the service's answer);
heartbeats run on the real Firestore emulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from google.api_core import exceptions as gexc
from google.cloud import firestore, run_v2

from cutout.errors import TransientError
from cutout.gcp import open_gcp_backends
from cutout.gcp.cloudrun import BEAT_TTL, CloudRunLauncher, worker_job_name
from cutout.ports import WorkerBeat
from cutout.settings import Settings

JOB = "projects/p/locations/europe-west4/jobs/cutout-worker"


class FakeJobsClient:
    def __init__(self, error: Exception | None = None) -> None:
        self.requests: list[run_v2.RunJobRequest] = []
        self.error = error

    def run_job(self, *, request: run_v2.RunJobRequest) -> object:
        self.requests.append(request)
        if self.error:
            raise self.error
        return object()


def launcher_with(client: FakeJobsClient) -> tuple[CloudRunLauncher, list[int]]:
    built: list[int] = []

    def factory() -> Any:
        built.append(1)
        return client

    launcher = CloudRunLauncher(
        job_name=JOB,
        jobs_client=factory,
        firestore_client=cast(Any, NoFirestore()),
        collection="workers",
    )
    return launcher, built


class NoFirestore:
    """Stands in for the Firestore client where only ``start`` is under test."""

    def collection(self, name: str) -> object:
        return object()


def test_start_requests_one_execution_with_task_count_override() -> None:
    client = FakeJobsClient()
    launcher, built = launcher_with(client)
    launcher.start(3)
    launcher.start(1)
    assert [(r.name, r.overrides.task_count) for r in client.requests] == [(JOB, 3), (JOB, 1)]
    assert list(client.requests[0].overrides.container_overrides) == []
    assert built == [1]  # the client is built once, on first use


def test_start_zero_calls_nothing_and_negative_is_refused() -> None:
    client = FakeJobsClient()
    launcher, built = launcher_with(client)
    launcher.start(0)
    assert client.requests == [] and built == []
    with pytest.raises(ValueError):
        launcher.start(-1)


def test_admin_api_outage_is_transient() -> None:
    launcher, _ = launcher_with(FakeJobsClient(gexc.ServiceUnavailable("down")))
    with pytest.raises(TransientError, match=r"starting 2 tasks of .*/jobs/cutout-worker"):
        launcher.start(2)


def test_job_name_comes_from_settings() -> None:
    settings = Settings(gcp_project="proj", gcp_region="europe-west4", worker_job="w")
    assert worker_job_name(settings) == "projects/proj/locations/europe-west4/jobs/w"


@pytest.mark.emulator
def test_heartbeats_alive_and_goodbye(gcp_settings: Settings) -> None:
    launcher = open_gcp_backends(gcp_settings).launcher
    now = datetime.now(UTC)
    launcher.beat(WorkerBeat("w1", at=now, busy=True, jobs_done=3))
    launcher.beat(WorkerBeat("w2", at=now - timedelta(seconds=5)))
    launcher.beat(WorkerBeat("old", at=now - timedelta(minutes=5)))
    alive = {b.worker_id: b for b in launcher.alive(max_age_s=60)}
    assert set(alive) == {"w1", "w2"}
    assert (alive["w1"].busy, alive["w1"].jobs_done) == (True, 3)
    assert abs(alive["w1"].at - now) < timedelta(milliseconds=1)

    launcher.goodbye("w2")
    launcher.beat(WorkerBeat("w2", at=datetime.now(UTC)))  # a late beat after goodbye
    assert [b.worker_id for b in launcher.alive(max_age_s=60)] == ["w1"]

    raw = firestore.Client(project=gcp_settings.gcp_project)
    doc = raw.collection(gcp_settings.workers_collection).document("w1").get().to_dict()
    assert doc is not None and doc["expire_at"] - doc["at"] == BEAT_TTL
