"""CloudRunLauncher: workers are tasks of the Cloud Run job; heartbeats live in Firestore.

:meth:`~CloudRunLauncher.start` asks the Cloud Run Admin API for one execution of the
worker job with ``task_count`` overridden to ``count``: one call, and the tasks start in
parallel as far as the job's ``parallelism`` allows (Terraform sets it). It returns once
the execution is requested and does not wait for the operation.

No emulator exists for the Admin API: the tests check the request built here against a
fake client, not against the service. Heartbeats are documents ``workers/<worker id>``
with ``expire_at`` for the collection's TTL policy; they are tested on the Firestore
emulator.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from cutout.gcp.errors import translated
from cutout.gcp.firestore import check_document_id
from cutout.job import utcnow
from cutout.ports import Launcher, WorkerBeat
from cutout.settings import Settings

log = logging.getLogger(__name__)

#: Heartbeat documents outlive their worker by this much, then the TTL policy drops them.
BEAT_TTL = timedelta(days=1)


def worker_job_name(settings: Settings) -> str:
    """The worker job's resource name: ``projects/<p>/locations/<region>/jobs/<job>``."""
    return (
        f"projects/{settings.gcp_project}/locations/{settings.gcp_region}"
        f"/jobs/{settings.worker_job}"
    )


class CloudRunLauncher(Launcher):
    def __init__(
        self,
        *,
        job_name: str,
        jobs_client: Callable[[], Any],
        firestore_client: firestore.Client,
        collection: str,
    ) -> None:
        """``job_name`` is ``projects/<p>/locations/<region>/jobs/<job>``; ``jobs_client``
        builds a ``run_v2.JobsClient`` on first use (it needs credentials)."""
        self._job_name = job_name
        self._jobs_factory = jobs_client
        self._jobs: Any = None
        self._workers = firestore_client.collection(collection)

    def start(self, count: int) -> None:
        if count < 0:
            raise ValueError(f"cannot start {count} workers")
        if count == 0:
            return
        from google.cloud import run_v2

        request = run_v2.RunJobRequest(
            name=self._job_name,
            overrides=run_v2.RunJobRequest.Overrides(task_count=count),
        )
        if self._jobs is None:
            self._jobs = self._jobs_factory()
        with translated(f"starting {count} tasks of {self._job_name}"):
            self._jobs.run_job(request=request)
        log.info("requested an execution of %s with %d tasks", self._job_name, count)

    def beat(self, beat: WorkerBeat) -> None:
        """Upsert the worker's document; merging leaves a goodbye in place, so a late
        beat from a stopping worker cannot bring it back to life."""
        ref = self._workers.document(check_document_id(beat.worker_id, "worker id"))
        with translated(f"recording a heartbeat of worker {beat.worker_id}"):
            ref.set(
                {
                    "worker_id": beat.worker_id,
                    "at": beat.at,
                    "busy": beat.busy,
                    "jobs_done": beat.jobs_done,
                    "expire_at": beat.at + BEAT_TTL,
                },
                merge=True,
            )

    def goodbye(self, worker_id: str) -> None:
        ref = self._workers.document(check_document_id(worker_id, "worker id"))
        now = utcnow()
        with translated(f"recording the goodbye of worker {worker_id}"):
            ref.set({"gone_at": now, "expire_at": now + BEAT_TTL}, merge=True)

    def alive(self, *, max_age_s: float) -> list[WorkerBeat]:
        cutoff: datetime = utcnow() - timedelta(seconds=max_age_s)
        query = self._workers.where(filter=FieldFilter("at", ">=", cutoff))
        with translated("listing live workers"):
            documents = [s.to_dict() or {} for s in query.stream()]
        return [
            WorkerBeat(
                worker_id=d["worker_id"], at=d["at"], busy=d["busy"], jobs_done=d["jobs_done"]
            )
            for d in documents
            if "gone_at" not in d
        ]
