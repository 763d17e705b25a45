"""CloudRunJob. No emulator exists for the Cloud Run Admin API, so ``start`` is checked
against a fake ``JobsClient`` (the request it builds, not the service's answer).
Heartbeats and start records are tested on the Firestore emulator in
test_gcp_launcher.py."""

from __future__ import annotations

from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.cloud import run_v2

from cutout.errors import TransientError
from cutout.gcp.cloudrun import CloudRunJob, worker_job_name
from cutout.job import utcnow
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


def launcher_with(client: FakeJobsClient) -> tuple[CloudRunJob, list[int]]:
    built: list[int] = []

    def factory() -> Any:
        built.append(1)
        return client

    return CloudRunJob(job_name=JOB, jobs_client=factory), built


def test_start_requests_one_execution_with_task_count_override() -> None:
    client = FakeJobsClient()
    launcher, built = launcher_with(client)
    launcher.start(3)
    launcher.start(1)
    assert [(r.name, r.overrides.task_count) for r in client.requests] == [(JOB, 3), (JOB, 1)]
    [override] = client.requests[0].overrides.container_overrides
    [variable] = override.env  # when the start was asked for: the worker's launch time
    assert variable.name == "CUTOUT_START_REQUESTED_AT"
    requested = Settings(start_requested_at=variable.value).start_requested_at
    assert requested is not None and abs((utcnow() - requested).total_seconds()) < 60
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
