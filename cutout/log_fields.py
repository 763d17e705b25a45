"""The fields a job's log lines carry, built in one place for every emitter, so the
log-based metrics of ``infra/monitoring.tf`` (and ``tests/test_log_fields.py``, their
contract) see the same names and types from ingest and worker alike."""

from __future__ import annotations

import logging
from typing import Any

from cutout import metrics
from cutout.codes import ErrorCode
from cutout.job import Job


def job_fields(job: Job) -> dict[str, Any]:
    """Every job line: its id and tier."""
    return {"job_id": job.id, "priority": job.priority.value}


def accepted_fields(job: Job, *, cached: bool) -> dict[str, Any]:
    """``job_accepted`` (ingest): who asked, and whether the cache answered."""
    return {
        "event": "job_accepted",
        **job_fields(job),
        "cached": cached,
        "key_id": job.client.key_id,
    }


def finished_fields(job: Job, *, worker_id: str, served: bool = True) -> dict[str, Any]:
    """``job_finished`` (worker), for a job that just reached done or failed: its state,
    seconds since submission (:func:`~cutout.metrics.seconds_to_finish`) and in the queue,
    whether its wait included a worker start, the worker that finished it (the one that
    drained its dead letter, for those: ``served=False``, never a cold start) and, when
    failed, the error code."""
    served_here = served and job.worker is not None and job.worker.id == worker_id
    fields: dict[str, Any] = {
        "event": "job_finished",
        **job_fields(job),
        "state": job.state.value,
        "cold_start": bool(served_here and job.worker and job.worker.cold_start),
        "worker_id": worker_id,
    }
    if (latency := metrics.seconds_to_finish(job)) is not None:
        fields["latency_s"] = round(latency, 4)
    if (wait := metrics.queue_wait_seconds(job)) is not None:
        fields["queue_wait_s"] = round(wait, 4)
    if job.error is not None:
        fields["code"] = job.error.code
    return fields


def log_finished(
    logger: logging.Logger, job: Job, worker_id: str, *, served: bool = True, **extra: Any
) -> None:
    """The one line for a job that just finished: ``job <id>: done`` (INFO) or ``job
    <id>: failed: <code>: <message>`` (WARNING; ERROR for a dead letter), with the
    :func:`finished_fields` and ``extra``."""
    fields = {**finished_fields(job, worker_id=worker_id, served=served), **extra}
    if job.error is None:
        logger.info("job %s: %s", job.id, job.state.value, extra={"fields": fields})
        return
    level = logging.ERROR if job.error.code == ErrorCode.DEAD_LETTERED else logging.WARNING
    text = "job %s: failed: %s: %s"
    logger.log(level, text, job.id, job.error.code, job.error.message, extra={"fields": fields})
