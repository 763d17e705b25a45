"""What ingest does, without HTTP: validate a submission, answer from the result cache,
store the upload, create the job, publish it; list jobs, hand out upload URLs, serve
signed blob URLs, scale workers. The HTTP edge (ingest/app.py) only parses requests
(ingest/parsing.py) and maps our errors to status codes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import effects
from cutout import job as contract
from cutout import lifecycle, results
from cutout.backends import Backends
from cutout.codes import ErrorCode
from cutout.errors import Conflict, InvalidInput, NotFound, TransientError
from cutout.imaging import ImageInfo, inspect_image
from cutout.integrity import content_digest, content_key
from cutout.job import (
    ClientInfo,
    EffectRequest,
    EffectResult,
    InputInfo,
    Job,
    JobState,
    OutputSpec,
    Priority,
)
from cutout.keys import key_pepper
from cutout.log_fields import accepted_fields
from cutout.ports.blob_routes import BlobRoutes
from cutout.ports.blobstore import BlobInfo
from cutout.ports.status import JobFilter, Page
from cutout.scaling import ScalePolicy, Scaler, ScaleResult
from cutout.settings import Settings
from ingest.presenting import job_view
from ingest.uploads import DirectUploads

log = logging.getLogger(__name__)

DEFAULT_EFFECTS = ("color",)
IDEMPOTENCY_KEY_MAX = 255


@dataclass(frozen=True)
class Submission:
    """A parsed request: the image (bytes or a direct-upload id) and what to do with it."""

    effects: list[tuple[str, dict[str, Any]]]
    output: OutputSpec
    priority: Priority
    client: ClientInfo
    data: bytes | None = None
    upload_id: str | None = None
    background: bytes | None = None  # the second image for ``background`` mode ``image``
    display: bool = True  # a display rendition before the full one (False: full only)


@dataclass(frozen=True)
class Accepted:
    job: Job
    cached: bool  # every result already existed: no GPU work was queued
    replayed: bool  # an earlier request with the same idempotency key made this job


class IngestService:
    def __init__(self, settings: Settings, backends: Backends) -> None:
        self.settings = settings
        self.backends = backends
        self.scaler = Scaler(backends, ScalePolicy.from_settings(settings))
        self.uploads = DirectUploads(settings, backends.blobs)
        self.id_secret = key_pepper(settings)

    # -- submissions ------------------------------------------------------------------

    def submit(self, sub: Submission) -> Accepted:
        started = time.perf_counter()
        data = self._input_bytes(sub)
        info = inspect_image(data, max_pixels=self.settings.max_pixels)
        sha256 = content_digest(data)
        requests = self.validate_effects(self._attach_background(sub.effects, sub.background))
        fingerprint = contract.request_fingerprint(
            sha256, requests, sub.output, sub.priority, display=sub.display
        )

        job_id = contract.new_job_id()
        if sub.client.idempotency_key is not None:
            job_id = contract.idempotent_job_id(
                self.id_secret, sub.client.key_id, sub.client.idempotency_key
            )
            replay = self.replay(job_id, fingerprint)
            if replay is not None:
                return replay

        job = Job(
            id=job_id,
            priority=sub.priority,
            input=self._store_input(data, info, sha256),
            effects=requests,
            output=sub.output,
            display=self.settings.display if sub.display else None,
            client=sub.client,
            request_fingerprint=fingerprint,
            expire_at=contract.expiry(timedelta(days=self.settings.job_ttl_days)),
        )
        job.timings.queued_at = job.created_at
        if self._fill_cached_results(job):
            job.state = JobState.DONE
            job.timings.finished_at = job.created_at
        job.timings.stages["ingest"] = round(time.perf_counter() - started, 4)

        try:
            job = self.backends.status.create(job)
        except Conflict:
            replay = self.replay(job_id, fingerprint)
            if replay is None:
                raise
            return replay
        if job.state is JobState.QUEUED:
            self.publish(job)
            self.try_scale()
        log.info(
            "job %s accepted",
            job.id,
            extra={"fields": accepted_fields(job, cached=job.state is JobState.DONE)},
        )
        return Accepted(job=job, cached=job.state is JobState.DONE, replayed=False)

    def _store_input(self, data: bytes, info: ImageInfo, sha256: str) -> InputInfo:
        """Bound to the job by content (cutout/integrity.py): a direct upload is copied to
        its content address, so later writes to the upload's own key change nothing."""
        key = content_key(sha256)
        self.backends.blobs.put(key, data, content_type=info.mime, if_absent=True)
        return InputInfo(
            key=key,
            sha256=sha256,
            width=info.width,
            height=info.height,
            format=info.format,
            bytes=len(data),
        )

    def validate_effects(self, requested: list[tuple[str, dict[str, Any]]]) -> list[EffectRequest]:
        """Canonical effect requests, or an :class:`InvalidInput` naming the bad one."""
        if not requested:
            requested = [(name, {}) for name in DEFAULT_EFFECTS]
        if len(requested) > self.settings.max_effects:
            raise InvalidInput(
                f"{len(requested)} effects requested; at most {self.settings.max_effects}",
                code=ErrorCode.TOO_MANY_EFFECTS,
            )
        seen: set[str] = set()
        out = []
        for name, params in requested:
            if name in seen:
                raise InvalidInput(
                    f"effect {name!r} is requested twice", code=ErrorCode.DUPLICATE_EFFECT
                )
            seen.add(name)
            try:
                canonical = effects.validate(name, params)
            except effects.EffectError as exc:
                raise InvalidInput(str(exc), code=exc.code) from exc
            out.append(EffectRequest(name=name, params=canonical))
        return out

    # -- scaling --------------------------------------------------------------------

    def scale(self, *, warm: bool = False) -> ScaleResult | None:
        """Make sure enough workers run (see cutout/scaling.py); ``None`` with autoscaling
        off. A failure raises :class:`TransientError` (code ``scale_failed``), so the
        periodic ``POST /v1/scale`` answers 503 and Cloud Scheduler records it."""
        if not self.settings.autoscale:
            return None
        try:
            return self.scaler.ensure(warm=warm)
        except Exception as exc:
            log.exception("scaling workers failed")
            raise TransientError(
                f"scaling workers failed: {exc}", code=ErrorCode.SCALE_FAILED
            ) from exc

    def try_scale(self, *, warm: bool = False) -> ScaleResult | None:
        """:meth:`scale` where a failure must not fail the request (it is logged): an
        upload (its job is queued, and the next upload or /v1/scale tries again) and a
        warm-up hint from the page."""
        try:
            return self.scale(warm=warm)
        except TransientError:
            return None

    # -- reading ----------------------------------------------------------------------

    def get(self, job_id: str) -> Job:
        try:
            return self.backends.status.get(job_id)
        except NotFound as exc:
            raise NotFound(f"no job with id {job_id!r}", code=ErrorCode.JOB_NOT_FOUND) from exc

    def present(self, job: Job) -> dict[str, Any]:
        """The job as clients see it (ingest/presenting.py), its results' URLs signed."""
        ttl = self.settings.url_ttl_s
        return job_view(job, lambda key: self.backends.blobs.url(key, ttl_s=ttl))

    def list_jobs(
        self, tenant_id: str, where: JobFilter, *, limit: int, cursor: str | None
    ) -> Page:
        """One page of the tenant's jobs matching ``where``, newest first."""
        where = JobFilter(state=where.state, client_key=tenant_id, batch_id=where.batch_id)
        return self.backends.status.find_page(where, limit=limit, cursor=cursor)

    def new_upload(self, content_type: str) -> dict[str, Any]:
        """A one-time direct-upload URL (ingest/uploads.py)."""
        return self.uploads.offer(content_type)

    # -- signed blob URLs (the families whose storage serves none itself) -------------

    @property
    def serves_blobs(self) -> bool:
        return self.backends.blob_routes is not None

    def read_blob(self, key: str, *, expires: str, sig: str) -> tuple[BlobInfo, bytes]:
        return self._blob_routes().read(key, expires=expires, sig=sig)

    def write_blob(
        self, key: str, body: Callable[[], bytes], *, content_type: str, expires: str, sig: str
    ) -> None:
        self._blob_routes().write(key, body, content_type=content_type, expires=expires, sig=sig)

    def _blob_routes(self) -> BlobRoutes:
        if self.backends.blob_routes is None:
            raise NotFound("these backends serve no blob URLs", code=ErrorCode.ROUTE_NOT_FOUND)
        return self.backends.blob_routes

    # -- helpers ----------------------------------------------------------------------

    def _input_bytes(self, sub: Submission) -> bytes:
        """The photo's bytes, sent in the request or uploaded directly."""
        if sub.upload_id is None:
            if sub.data is None:
                raise InvalidInput(
                    "send the photo as the 'file' field", code=ErrorCode.MISSING_FILE
                )
            return sub.data
        if sub.data is not None:
            raise InvalidInput(
                "send either a 'file' or an 'upload_id', not both", code=ErrorCode.AMBIGUOUS_INPUT
            )
        return self.uploads.read(sub.upload_id)

    def _attach_background(
        self, requested: list[tuple[str, dict[str, Any]]], background: bytes | None
    ) -> list[tuple[str, dict[str, Any]]]:
        """Store a second upload and point the ``background`` effect at it (``image`` is
        never taken from the client: it could name any blob)."""
        for name, params in requested:
            if name == "background" and "image" in params:
                raise InvalidInput(
                    "background's 'image' is set by uploading a 'background' file",
                    code=ErrorCode.INVALID_PARAMS,
                )
        if background is None:
            return requested
        if "background" not in [name for name, _ in requested]:
            raise InvalidInput(
                "a 'background' file was sent but the background effect was not requested",
                code=ErrorCode.BACKGROUND_WITHOUT_EFFECT,
            )
        info = inspect_image(background, max_pixels=self.settings.max_pixels)
        key = content_key(content_digest(background))
        self.backends.blobs.put(key, background, content_type=info.mime, if_absent=True)
        return [
            (name, {"mode": "image", **params, "image": key} if name == "background" else params)
            for name, params in requested
        ]

    def replay(self, job_id: str, fingerprint: str) -> Accepted | None:
        try:
            existing = self.backends.status.get(job_id)
        except NotFound:
            return None
        if existing.request_fingerprint != fingerprint:
            raise Conflict(
                "this Idempotency-Key was already used with a different request",
                code=ErrorCode.IDEMPOTENCY_CONFLICT,
            )
        return Accepted(job=existing, cached=False, replayed=True)

    def _fill_cached_results(self, job: Job) -> bool:
        """Fill in every result of the job (each rendition) if all are stored, and say so;
        else leave the job alone: a partial hit is queued and the worker reuses what is
        stored. Each result found is refreshed (see :func:`cutout.results.lookup`)."""
        found: dict[contract.Rendition, dict[str, EffectResult]] = {}
        for planned in results.plan(job, self.settings.model_identity):
            result = results.lookup(self.backends.blobs, planned)
            if result is None:
                return False
            found.setdefault(planned.rendition, {})[planned.effect] = result
        job.displays = found.get(results.DISPLAY, {})
        job.results = found.get(results.FULL, {})
        return True

    def publish(self, job: Job) -> None:
        """Publish, or fail the job so it is never left ``queued`` with no message."""
        try:
            self.backends.queue.publish(job.id, job.priority)
        except Exception as exc:
            log.exception("job %s: publish failed", job.id)
            lifecycle.enqueue_failed(self.backends.status, job.id, str(exc))
            raise TransientError(
                "the job could not be queued; try again", code="enqueue_failed"
            ) from exc
