"""Backfill items given by reference, without HTTP: one job per gs:// object, made
without reading it (ingest never sees the bytes: the worker reads the object at the
listed generation, hashes it, and writes the results to DEST itself).

Exactly once, as for uploads: each item's job id is derived from the caller, the batch,
the item's relative path, its object and generation, its DEST and its retry count
(:func:`cutout.backfill.naming.reference_identity`), so sending an item again answers
the job it already has. Who may name which buckets is checked before this (the caller's
allowed sources and destinations, ingest/auth.py); here every name is checked for shape
(cutout/refs.py), so each output lands under DEST.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cutout import job as contract
from cutout import refs
from cutout.backfill import naming
from cutout.codes import ErrorCode
from cutout.errors import Conflict, InvalidInput
from cutout.job import ClientInfo, Delivery, InputInfo, Job, SourceRef
from ingest.models import ReferenceBatchRequest, ReferenceItem
from ingest.service import IngestService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReferenceSubmissions:
    service: IngestService

    def submit(
        self, tenant_id: str, batch_id: str, request: ReferenceBatchRequest
    ) -> dict[str, Any]:
        """Create (or find) each item's job; ``{"batch_id", "items": [...]}`` in the
        request's order, each ``{relative_path, id, state, replayed}`` or, for an item
        whose key was used with another request, ``{relative_path, error}``."""
        if self.service.backends.objects is None:
            raise InvalidInput(
                "these backends read no gs:// objects; submit the photos themselves",
                code=ErrorCode.BY_REFERENCE_UNSUPPORTED,
            )
        dest = None if request.dest is None else refs.check_prefix(request.dest)
        submission = request.submission(tenant_id)
        effects = self.service.validate_effects(submission.effects)
        for index, item in enumerate(request.items):
            _check_item(
                index, item, dest, [e.name for e in effects], submission.output.format.extension
            )
        answers = []
        published = False
        for item in request.items:
            job = self._job(tenant_id, batch_id, dest, item, effects, submission)
            try:
                created = self.service.backends.status.create(job)
            except Conflict:
                answers.append(self._replayed(job, item))
                continue
            self.service.publish(created)
            published = True
            answers.append(_answer(item, created, replayed=False))
        if published:
            self.service.try_scale()
        return {"batch_id": batch_id, "items": answers}

    def _job(
        self,
        tenant_id: str,
        batch_id: str,
        dest: str | None,
        item: ReferenceItem,
        effects: list[contract.EffectRequest],
        submission: Any,
    ) -> Job:
        identity = naming.reference_identity(item.uri, item.generation, dest or "")
        key = naming.idempotency_key(batch_id, item.relative_path, identity, item.retry)
        job = Job(
            id=contract.idempotent_job_id(self.service.id_secret, tenant_id, key),
            priority=submission.priority,
            input=InputInfo(
                key="",
                sha256="",
                width=0,
                height=0,
                format="",
                bytes=item.size,
                source=SourceRef(uri=item.uri, generation=item.generation),
            ),
            effects=effects,
            output=submission.output,
            client=ClientInfo(key_id=tenant_id, batch_id=batch_id, idempotency_key=key),
            delivery=None
            if dest is None
            else Delivery(prefix=dest, relative_path=item.relative_path),
            request_fingerprint=contract.request_fingerprint(
                identity, effects, submission.output, submission.priority, display=False
            ),
            expire_at=contract.expiry(timedelta(days=self.service.settings.job_ttl_days)),
        )
        job.timings.queued_at = job.created_at
        return job

    def _replayed(self, job: Job, item: ReferenceItem) -> dict[str, Any]:
        try:
            replay = self.service.replay(job.id, job.request_fingerprint)
        except Conflict as exc:
            return {
                "relative_path": item.relative_path,
                "error": {"code": exc.code, "message": exc.message},
            }
        if replay is None:  # created and expired between the two calls: vanishingly rare
            raise Conflict("the item's job changed meanwhile; send it again")
        return _answer(item, replay.job, replayed=True)


def _check_item(
    index: int, item: ReferenceItem, dest: str | None, effects: list[str], ext: str
) -> None:
    """The item's source is a gs:// object and each of its outputs a name under DEST (or,
    without one, a name a bucket could hold: the caller mirrors it into a folder)."""
    try:
        source = refs.parse(item.uri)
        prefix = dest or f"{refs.SCHEME}{source.bucket}/"
        for effect in effects:
            naming.delivered_uri(
                Delivery(prefix=prefix, relative_path=item.relative_path), effect, ext
            )
    except InvalidInput as exc:
        raise InvalidInput(f"items[{index}]: {exc.message}", code=exc.code) from exc


def _answer(item: ReferenceItem, job: Job, *, replayed: bool) -> dict[str, Any]:
    return {
        "relative_path": item.relative_path,
        "id": job.id,
        "state": job.state.value,
        "replayed": replayed,
    }
