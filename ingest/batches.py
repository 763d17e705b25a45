"""Batches, without HTTP: a batch is the set of a caller's jobs labelled with one
``batch_id`` (a backfill run). Its counts by state come from the status store's own
count (:meth:`StatusStore.count_by_state`), never from paging through jobs, and
cancelling it ends every job of it still queued through the lifecycle's ``cancel``
(``failed``, code ``cancelled``); jobs already running finish as usual.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from cutout import lifecycle
from cutout.backends import Backends
from cutout.codes import ErrorCode
from cutout.errors import Conflict, NotFound
from cutout.job import Job, JobState
from cutout.ports.status import MAX_FIND_LIMIT, JobFilter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchService:
    backends: Backends

    def summary(self, key_id: str, batch_id: str) -> dict[str, Any]:
        """The batch's counts by state, ``total`` and ``finished``; ``batch_not_found``
        if the caller has no job in it."""
        counts = self.backends.status.count_by_state(
            JobFilter(client_key=key_id, batch_id=batch_id)
        )
        total = sum(counts.values())
        if total == 0:
            raise NotFound(f"no batch {batch_id!r} among your jobs", code=ErrorCode.BATCH_NOT_FOUND)
        finished = sum(n for state, n in counts.items() if state.is_finished)
        return {
            "id": batch_id,
            "counts": {state.value: n for state, n in counts.items()},
            "total": total,
            "finished": finished,
        }

    def cancel(self, key_id: str, batch_id: str) -> dict[str, Any]:
        """End every queued job of the batch (``failed``, code ``cancelled``); returns
        how many this call cancelled and the batch's summary after it. A job a worker
        claims between the listing and its cancel is cancelled too (its worker drops it)."""
        where = JobFilter(state=JobState.QUEUED, client_key=key_id, batch_id=batch_id)
        cancelled = 0
        while True:
            page = self.backends.status.find_page(where, limit=MAX_FIND_LIMIT)
            cancelled += sum(self._cancel_one(job) for job in page.jobs)
            if len(page.jobs) < MAX_FIND_LIMIT:
                break
        return {"cancelled": cancelled, **self.summary(key_id, batch_id)}

    def _cancel_one(self, job: Job) -> int:
        try:
            lifecycle.cancel(self.backends.status, job.id, "its batch was cancelled")
        except (Conflict, NotFound):
            log.info("job %s: finished meanwhile; not cancelled", job.id)
            return 0
        return 1
