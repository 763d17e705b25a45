"""What ingest does, without HTTP: validate a submission, answer from the result cache,
store the upload, create the job, publish it. The HTTP layer (ingest/app.py) only parses
requests into :class:`Submission` and maps our errors to status codes.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import effects
from cutout import job as contract
from cutout import lifecycle
from cutout.backends import Backends
from cutout.errors import Conflict, InvalidInput, NotFound, TransientError
from cutout.imaging import inspect_image
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
from cutout.scaling import ScalePolicy, Scaler, ScaleResult
from cutout.settings import Settings

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

    # -- submissions ------------------------------------------------------------------

    def submit(self, sub: Submission) -> Accepted:
        started = time.perf_counter()
        data, input_key = self._input_bytes(sub)
        info = inspect_image(data, max_pixels=self.settings.max_pixels)
        sha256 = hashlib.sha256(data).hexdigest()
        requests = self.validate_effects(self._attach_background(sub.effects, sub.background))
        fingerprint = contract.request_fingerprint(sha256, requests, sub.output, sub.priority)

        job_id = contract.new_job_id()
        if sub.client.idempotency_key is not None:
            job_id = contract.idempotent_job_id(sub.client.key_id, sub.client.idempotency_key)
            replay = self._replay(job_id, fingerprint)
            if replay is not None:
                return replay

        if input_key is None:
            input_key = f"uploads/{sha256}"
            self.backends.blobs.put(input_key, data, content_type=info.mime, if_absent=True)
        job = Job(
            id=job_id,
            priority=sub.priority,
            input=InputInfo(
                key=input_key,
                sha256=sha256,
                width=info.width,
                height=info.height,
                format=info.format,
                bytes=len(data),
            ),
            effects=requests,
            output=sub.output,
            client=sub.client,
            request_fingerprint=fingerprint,
            expire_at=contract.expiry(timedelta(days=self.settings.job_ttl_days)),
        )
        job.timings.queued_at = job.created_at
        cached = self._cached_results(job)
        if len(cached) == len(requests):
            job.state = JobState.DONE
            job.results = cached
            job.timings.finished_at = job.created_at
        job.timings.stages["ingest"] = round(time.perf_counter() - started, 4)

        try:
            job = self.backends.status.create(job)
        except Conflict:
            replay = self._replay(job_id, fingerprint)
            if replay is None:
                raise
            return replay
        if job.state is JobState.QUEUED:
            self._publish(job)
            self.scale()
        log.info(
            "job %s accepted",
            job.id,
            extra={"fields": {"job_id": job.id, "cached": job.state is JobState.DONE}},
        )
        return Accepted(job=job, cached=job.state is JobState.DONE, replayed=False)

    def validate_effects(self, requested: list[tuple[str, dict[str, Any]]]) -> list[EffectRequest]:
        """Canonical effect requests, or an :class:`InvalidInput` naming the bad one."""
        if not requested:
            requested = [(name, {}) for name in DEFAULT_EFFECTS]
        if len(requested) > self.settings.max_effects:
            raise InvalidInput(
                f"{len(requested)} effects requested; at most {self.settings.max_effects}",
                code="too_many_effects",
            )
        seen: set[str] = set()
        out = []
        for name, params in requested:
            if name in seen:
                raise InvalidInput(f"effect {name!r} is requested twice", code="duplicate_effect")
            seen.add(name)
            try:
                canonical = effects.validate(name, params)
            except effects.EffectError as exc:
                raise InvalidInput(str(exc), code=exc.code) from exc
            out.append(EffectRequest(name=name, params=canonical))
        return out

    def scale(self, *, warm: bool = False) -> ScaleResult | None:
        """Make sure enough workers run (see cutout/scaling.py). A failure here never fails
        the upload: the job is queued, and the next upload or /v1/scale tries again."""
        if not self.settings.autoscale:
            return None
        try:
            return self.scaler.ensure(warm=warm)
        except Exception:
            log.exception("scaling workers failed; the periodic /v1/scale will retry")
            return None

    # -- reading ----------------------------------------------------------------------

    def get(self, job_id: str) -> Job:
        try:
            return self.backends.status.get(job_id)
        except NotFound as exc:
            raise NotFound(f"no job with id {job_id!r}", code="job_not_found") from exc

    def present(self, job: Job) -> dict[str, Any]:
        """The job as clients see it: results carry URLs, internals stay out."""
        ttl = self.settings.url_ttl_s
        return {
            "id": job.id,
            "state": job.state.value,
            "priority": job.priority.value,
            "effects": [e.model_dump(mode="json") for e in job.effects],
            "output": job.output.model_dump(mode="json"),
            "input": {
                "width": job.input.width,
                "height": job.input.height,
                "format": job.input.format,
                "bytes": job.input.bytes,
            },
            "results": {
                name: {
                    "url": self.backends.blobs.url(r.key, ttl_s=ttl),
                    "format": r.format,
                    "width": r.width,
                    "height": r.height,
                    "bytes": r.bytes,
                }
                for name, r in job.results.items()
            },
            "effect_errors": {
                name: e.model_dump(mode="json") for name, e in job.effect_errors.items()
            },
            "error": job.error.model_dump(mode="json") if job.error else None,
            "attempts": job.attempts,
            "timings": job.timings.model_dump(mode="json"),
            "model": job.model.model_dump(mode="json") if job.model else None,
            "worker": job.worker.model_dump(mode="json") if job.worker else None,
            "batch_id": job.client.batch_id,
            "created_at": job.created_at.isoformat(),
            "updated_at": job.updated_at.isoformat(),
        }

    # -- direct uploads ---------------------------------------------------------------

    def new_upload(self, content_type: str) -> dict[str, Any]:
        """A one-time URL to PUT a photo straight into storage; the id then goes into
        ``POST /v1/jobs`` as ``upload_id`` instead of a file."""
        upload_id = uuid.uuid4().hex
        ttl = self.settings.url_ttl_s
        url = self.backends.blobs.upload_url(
            _upload_key(upload_id), content_type=content_type, ttl_s=ttl
        )
        return {
            "upload_id": upload_id,
            "url": url,
            "method": "PUT",
            "headers": {"Content-Type": content_type},
            "expires_in": ttl,
            "max_bytes": self.settings.max_upload_bytes,
        }

    # -- helpers ----------------------------------------------------------------------

    def _input_bytes(self, sub: Submission) -> tuple[bytes, str | None]:
        if sub.upload_id is None:
            if sub.data is None:
                raise InvalidInput("send the photo as the 'file' field", code="missing_file")
            return sub.data, None
        if sub.data is not None:
            raise InvalidInput(
                "send either a 'file' or an 'upload_id', not both", code="ambiguous_input"
            )
        key = _upload_key(sub.upload_id)
        info = self.backends.blobs.stat(key)
        if info is None:
            raise NotFound(f"no upload with id {sub.upload_id!r}", code="upload_not_found")
        if info.size > self.settings.max_upload_bytes:
            raise InvalidInput(
                f"the upload has {info.size} bytes; the limit is {self.settings.max_upload_bytes}",
                code="too_large",
            )
        return self.backends.blobs.get(key), key

    def _attach_background(
        self, requested: list[tuple[str, dict[str, Any]]], background: bytes | None
    ) -> list[tuple[str, dict[str, Any]]]:
        """Store a second upload and point the ``background`` effect at it (``image`` is
        never taken from the client: it could name any blob)."""
        for name, params in requested:
            if name == "background" and "image" in params:
                raise InvalidInput(
                    "background's 'image' is set by uploading a 'background' file",
                    code="invalid_params",
                )
        if background is None:
            return requested
        if "background" not in [name for name, _ in requested]:
            raise InvalidInput(
                "a 'background' file was sent but the background effect was not requested",
                code="background_without_effect",
            )
        info = inspect_image(background, max_pixels=self.settings.max_pixels)
        key = f"uploads/{hashlib.sha256(background).hexdigest()}"
        self.backends.blobs.put(key, background, content_type=info.mime, if_absent=True)
        return [
            (name, {"mode": "image", **params, "image": key} if name == "background" else params)
            for name, params in requested
        ]

    def _replay(self, job_id: str, fingerprint: str) -> Accepted | None:
        try:
            existing = self.backends.status.get(job_id)
        except NotFound:
            return None
        if existing.request_fingerprint != fingerprint:
            raise Conflict(
                "this Idempotency-Key was already used with a different request",
                code="idempotency_conflict",
            )
        return Accepted(job=existing, cached=False, replayed=True)

    def _cached_results(self, job: Job) -> dict[str, EffectResult]:
        chains = effects.plan([e.name for e in job.effects])
        found: dict[str, EffectResult] = {}
        for request, chain in zip(job.effects, chains, strict=True):
            key = contract.cache_key(
                job.input.sha256,
                self.settings.model_identity,
                [job.effects[i] for i in chain],
                job.output,
            )
            blob = self.backends.blobs.stat(contract.result_key(key, job.output))
            if blob is None:
                return {}
            found[request.name] = EffectResult.stored(
                key=blob.key,
                size=blob.size,
                metadata=blob.metadata,
                format=job.output.format.value,
                cache_key=key,
            )
        return found

    def _publish(self, job: Job) -> None:
        """Publish, or fail the job so it is never left ``queued`` with no message."""
        try:
            self.backends.queue.publish(job.id, job.priority)
        except Exception as exc:
            log.exception("job %s: publish failed", job.id)
            lifecycle.enqueue_failed(self.backends.status, job.id, str(exc))
            raise TransientError(
                "the job could not be queued; try again", code="enqueue_failed"
            ) from exc


def _upload_key(upload_id: str) -> str:
    if not upload_id.isalnum() or len(upload_id) > 64:
        raise InvalidInput(f"malformed upload id {upload_id!r}", code="invalid_upload_id")
    return f"uploads/direct/{upload_id}"
