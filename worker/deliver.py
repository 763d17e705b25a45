"""Results written to the customer's bucket (a backfill's gs:// DEST), by the service:
each full-resolution result of a by-reference job is copied from the results store to
its mirrored name under the job's delivery prefix (cutout/backfill/naming.py), after the
results are stored and before the job is finished, so a finished job's outputs are in
DEST. A redelivery writes the same bytes to the same names again: one output per item
per effect, whatever happens.
"""

from __future__ import annotations

from collections.abc import Mapping

from cutout import lifecycle
from cutout.backends import Backends
from cutout.backfill import naming
from cutout.codes import ErrorCode
from cutout.errors import InvalidInput, TransientError
from cutout.job import Job, ModelInfo


def deliver(backends: Backends, job_id: str) -> int:
    """Copy the job's recorded results to DEST; returns how many were written (0 for a
    job without a delivery)."""
    job = backends.status.get(job_id)
    if job.delivery is None:
        return 0
    if backends.objects is None:
        raise InvalidInput(
            "these backends cannot write gs:// results", code=ErrorCode.BY_REFERENCE_UNSUPPORTED
        )
    extension = job.output.format.extension
    for effect, result in job.results.items():
        stored = backends.blobs.stat(result.key)
        if stored is None:
            raise TransientError(f"{result.key} is not stored (yet); delivering again later")
        uri = naming.delivered_uri(job.delivery, effect, extension)
        backends.objects.write(
            uri, backends.blobs.get(result.key), content_type=stored.content_type
        )
    return len(job.results)


def deliver_and_finish(
    backends: Backends,
    job: Job,
    *,
    model: ModelInfo,
    stages: Mapping[str, float],
    startup: Mapping[str, float] | None,
    all_failed: bool,
) -> Job:
    """:func:`deliver`, then :func:`cutout.lifecycle.finish`, recording an input given by
    reference as it was read (its sha256 and size): a finished job's outputs are in DEST."""
    deliver(backends, job.id)
    return lifecycle.finish(
        backends.status,
        job.id,
        model=model,
        stages=stages,
        startup=startup,
        all_failed=all_failed,
        read=job.input if job.input.source is not None else None,
    )
