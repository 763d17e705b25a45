"""Starting GPU workers as tasks of the Cloud Run worker job.

:meth:`CloudRunJob.start` asks the Cloud Run Admin API for one execution of the worker
job with ``task_count`` overridden to ``count``: one call, and the tasks start in
parallel as far as the job's ``parallelism`` allows (Terraform sets it). It returns once
the execution is requested and does not wait for the operation.

No emulator exists for the Admin API: the tests check the request built here against a
fake client, not against the service.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from cutout.gcp.errors import translated
from cutout.job import utcnow
from cutout.settings import ENV_PREFIX, Settings

log = logging.getLogger(__name__)

#: The setting that tells a worker when it was asked for (Settings.start_requested_at).
REQUESTED_AT_ENV = f"{ENV_PREFIX}START_REQUESTED_AT"


def worker_job_name(settings: Settings) -> str:
    """The worker job's resource name: ``projects/<p>/locations/<region>/jobs/<job>``."""
    return (
        f"projects/{settings.gcp_project}/locations/{settings.gcp_region}"
        f"/jobs/{settings.worker_job}"
    )


class CloudRunJob:
    """The ``start`` of :class:`~cutout.gcp.launcher.FirestoreLauncher` in production."""

    def __init__(self, *, job_name: str, jobs_client: Callable[[], Any]) -> None:
        """``job_name`` is ``projects/<p>/locations/<region>/jobs/<job>``; ``jobs_client``
        builds a ``run_v2.JobsClient`` on first use (it needs credentials)."""
        self._job_name = job_name
        self._jobs_factory = jobs_client
        self._jobs: Any = None

    def start(self, count: int) -> None:
        if count < 0:
            raise ValueError(f"cannot start {count} workers")
        if count == 0:
            return
        from google.cloud import run_v2

        request = run_v2.RunJobRequest(
            name=self._job_name,
            overrides=run_v2.RunJobRequest.Overrides(
                task_count=count,
                # when the start was asked for, so worker lives measure the launch time
                container_overrides=[
                    run_v2.RunJobRequest.Overrides.ContainerOverride(
                        env=[run_v2.EnvVar(name=REQUESTED_AT_ENV, value=utcnow().isoformat())]
                    )
                ],
            ),
        )
        if self._jobs is None:
            self._jobs = self._jobs_factory()
        with translated(f"starting {count} tasks of {self._job_name}"):
            self._jobs.run_job(request=request)
        log.info("requested an execution of %s with %d tasks", self._job_name, count)
