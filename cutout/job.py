"""The job contract: what a job is and its states (the legal ways it changes are in
:mod:`cutout.lifecycle`).

The status store holds the single source of truth for a job; queue messages carry only
the job id and its priority. Every adapter stores the JSON form of :class:`Job`
(``job.model_dump(mode="json")``) and rebuilds it with ``Job.model_validate``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cutout.preview_info import Preview
from cutout.refs import Delivery, SourceRef


def utcnow() -> datetime:
    return datetime.now(UTC)


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    @property
    def is_finished(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED)


class Priority(StrEnum):
    """Queue tiers, most urgent first; a worker always drains a higher tier first."""

    HIGH = "high"
    STANDARD = "standard"
    BATCH = "batch"

    @property
    def rank(self) -> int:
        return list(Priority).index(self)


class OutputFormat(StrEnum):
    """How results are encoded; ``mask`` is the alpha channel alone as a grayscale PNG."""

    PNG = "png"
    WEBP = "webp"
    JPEG = "jpeg"
    MASK = "mask"

    @property
    def extension(self) -> str:
        """File extension of results in this format (a mask is a PNG)."""
        return {OutputFormat.JPEG: "jpg", OutputFormat.MASK: "png"}.get(self, self.value)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputInfo(_Model):
    """The stored upload, as validated at ingest. An input given by ``source`` (a
    backfill's gs:// object) is not read at ingest: its ``sha256``, ``width``, ``height``
    and ``format`` are empty until the worker reads it, hashes it and records them."""

    key: str
    sha256: str
    width: int
    height: int
    format: str
    bytes: int
    source: SourceRef | None = None


class EffectRequest(_Model):
    """One requested effect with its validated, canonical parameters."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)


_HEX_COLOUR = re.compile(r"#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
JPEG_QUALITY = 90
JPEG_MATTE = "#ffffff"


class OutputSpec(_Model):
    """How results are encoded, in canonical form (it goes into cache keys).

    ``quality``: webp's lossy quality (``None`` = lossless, tuned for speed) or jpeg's
    quality (default 90). ``matte``: the colour jpeg flattens transparency onto (default
    white), as ``#rrggbb``. An option the format does not use is an error, not ignored, and
    jpeg's defaults are filled in, so equal outputs always have equal specs.
    """

    format: OutputFormat = OutputFormat.PNG
    quality: int | None = Field(default=None, ge=1, le=100)
    matte: str | None = None

    @model_validator(mode="after")
    def _canonical(self) -> OutputSpec:
        if self.quality is not None and self.format not in (OutputFormat.WEBP, OutputFormat.JPEG):
            raise ValueError(f"quality is for webp and jpeg output, not {self.format.value}")
        if self.matte is not None and self.format is not OutputFormat.JPEG:
            raise ValueError(f"matte is for jpeg output, not {self.format.value}")
        if self.format is OutputFormat.JPEG:
            if self.quality is None:
                self.quality = JPEG_QUALITY
            match = _HEX_COLOUR.fullmatch((self.matte or JPEG_MATTE).strip())
            if match is None:
                raise ValueError(f"matte {self.matte!r} is not a colour; use #rrggbb")
            digits = match.group(1).lower()
            self.matte = "#" + (digits if len(digits) == 6 else "".join(c * 2 for c in digits))
        return self


class Rendition(StrEnum):
    """The encodings of one result: ``display`` (small, lossy WebP, for the phone; stored
    and recorded first) and ``full`` (the job's format at the input's full resolution)."""

    DISPLAY = "display"
    FULL = "full"


#: The lowest lossy WebP quality a display rendition may use (below it fur turns to mush).
DISPLAY_QUALITY_FLOOR = 70
DISPLAY_LONG_SIDE = 1600
DISPLAY_QUALITY = 80


class DisplaySpec(_Model):
    """The display rendition a job asks for: its long side at most ``long_side`` pixels
    (never upscaled), lossy WebP with alpha at ``quality`` (at least
    :data:`DISPLAY_QUALITY_FLOOR`). Fixed per job at ingest, so ingest's cache lookup and
    the worker agree whatever their settings."""

    long_side: int = Field(DISPLAY_LONG_SIDE, ge=64, le=8192)
    quality: int = Field(DISPLAY_QUALITY, ge=DISPLAY_QUALITY_FLOOR, le=100)

    @property
    def output(self) -> OutputSpec:
        return OutputSpec(format=OutputFormat.WEBP, quality=self.quality)

    def scale(self, height: int, width: int) -> float:
        """Display pixels per full-resolution pixel for an image of that size (≤ 1)."""
        return min(1.0, self.long_side / max(height, width))


class ErrorInfo(_Model):
    code: str
    message: str


class EffectResult(_Model):
    """One effect's output, written into the job as soon as it is stored (built by
    :mod:`cutout.results`). ``written_at``: when the worker recorded it (``None`` for
    results found in the cache at ingest), so the time to a job's first result can be
    measured."""

    key: str
    format: str
    width: int
    height: int
    bytes: int
    cache_key: str
    seconds: float = 0.0
    written_at: datetime | None = None


class Timings(_Model):
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    stages: dict[str, float] = Field(default_factory=dict)


class ModelInfo(_Model):
    """Which segmenter produced the results; ``fallback`` marks the weights-free one."""

    name: str
    version: str
    options: dict[str, Any] = Field(default_factory=dict)
    fallback: bool = False


class WorkerInfo(_Model):
    """``warm``: the worker was running when the job was submitted (no start waited for)."""

    id: str
    cold_start: bool = False
    startup: dict[str, float] = Field(default_factory=dict)
    started_at: datetime | None = None
    warm: bool | None = None


class ClientInfo(_Model):
    key_id: str = "anonymous"
    batch_id: str | None = None
    idempotency_key: str | None = None


class Job(_Model):
    id: str
    state: JobState = JobState.QUEUED
    priority: Priority = Priority.STANDARD
    input: InputInfo
    effects: list[EffectRequest]
    output: OutputSpec = Field(default_factory=OutputSpec)
    display: DisplaySpec | None = None
    results: dict[str, EffectResult] = Field(default_factory=dict)
    displays: dict[str, EffectResult] = Field(default_factory=dict)
    effect_errors: dict[str, ErrorInfo] = Field(default_factory=dict)
    attempts: int = 0
    error: ErrorInfo | None = None
    timings: Timings = Field(default_factory=Timings)
    model: ModelInfo | None = None
    worker: WorkerInfo | None = None
    preview: Preview | None = None
    client: ClientInfo = Field(default_factory=ClientInfo)
    delivery: Delivery | None = None
    request_fingerprint: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    expire_at: datetime | None = None

    @property
    def pending_effects(self) -> list[EffectRequest]:
        """Effects with neither a result nor an error yet."""
        return [
            e
            for e in self.effects
            if e.name not in self.results and e.name not in self.effect_errors
        ]


def new_job_id() -> str:
    return uuid.uuid4().hex


def idempotent_job_id(secret: bytes, tenant_id: str, idempotency_key: str) -> str:
    """A job id derived from the tenant and its idempotency key, so that creating the job
    twice collides in the status store instead of needing a separate index. Keyed with a
    server secret: ids stay unguessable (they are read capabilities for anonymous and
    publishable callers) even to someone who knows the tenant and the key."""
    canonical = json.dumps({"client": tenant_id, "idempotency_key": idempotency_key})
    return hmac.new(secret, canonical.encode(), hashlib.sha256).hexdigest()[:32]


def request_fingerprint(
    input_sha256: str,
    effects: list[EffectRequest],
    output: OutputSpec,
    priority: Priority,
    *,
    display: bool = True,
) -> str:
    """What "the same request" means for idempotency: same bytes, effects and output, and
    the same renditions (a full-only request is marked, so default requests keep the
    fingerprints they had before renditions existed)."""
    request: dict[str, Any] = {
        "input": input_sha256,
        "effects": [e.model_dump(mode="json") for e in effects],
        "output": output.model_dump(mode="json"),
        "priority": priority.value,
    }
    if not display:
        request["renditions"] = [Rendition.FULL.value]
    return _digest(request)


def cache_key(
    input_sha256: str,
    model_identity: str,
    chain: Sequence[EffectRequest],
    output: OutputSpec,
    rendition: Mapping[str, object] | None = None,
) -> str:
    """Content address of one result: equal keys mean interchangeable results, so a repeat
    request is answered from storage and a redelivered job rewrites nothing.

    ``chain`` is every effect that shapes the result, in order: the effect itself, preceded
    by any effects of the job that it composes with (e.g. ``crop`` before ``blackwhite``).
    ``rendition`` describes a rendition other than the full one (its name and size); the
    full rendition leaves it out, so its keys are those it had before renditions existed.
    """
    content: dict[str, Any] = {
        "input": input_sha256,
        "model": model_identity,
        "chain": [e.model_dump(mode="json") for e in chain],
        "output": output.model_dump(mode="json"),
    }
    if rendition is not None:
        content["rendition"] = dict(rendition)
    return _digest(content)


def result_key(cache_key_: str, output: OutputSpec) -> str:
    """Where a result lives in the blob store: content-addressed, so writes are idempotent."""
    return f"results/{cache_key_}.{output.format.extension}"


def expiry(ttl: timedelta) -> datetime:
    return utcnow() + ttl


def _digest(value: object) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
