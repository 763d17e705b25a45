"""All configuration in one typed object.

Precedence, written once: a command-line flag (applied by the CLI with
:meth:`Settings.with_overrides`) beats a ``CUTOUT_<FIELD>`` environment variable, which
beats the default here. The defaults run the whole pipeline on one machine with nothing
installed beyond the Python packages: files and SQLite under ``./.cutout``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cutout.errors import ConfigurationError
from cutout.job import DISPLAY_LONG_SIDE, DISPLAY_QUALITY, DISPLAY_QUALITY_FLOOR, DisplaySpec

ENV_PREFIX = "CUTOUT_"


class Backend(StrEnum):
    LOCAL = "local"
    GCP = "gcp"


class LauncherKind(StrEnum):
    """How the gcp backend starts workers (the local backend always spawns them)."""

    CLOUDRUN = "cloudrun"  # executions of the Cloud Run worker job
    LOCAL = "local"  # python -m worker subprocesses (emulators, cutout up)


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # where state lives
    backend: Backend = Backend.LOCAL
    data_dir: Path = Path(".cutout")
    public_url: str = Field("http://127.0.0.1:8080", description="base URL clients reach")
    url_secret: str = Field("", description="HMAC key for local blob URLs; made if empty")

    # limits at ingest
    max_upload_bytes: int = Field(50 * 1024 * 1024, gt=0)
    max_pixels: int = Field(50_000_000, gt=0)
    url_ttl_s: int = Field(3600, gt=0, description="lifetime of result/upload URLs")
    job_ttl_days: int = Field(30, gt=0, description="job documents expire after this")
    upload_retention_days: int = Field(
        7, gt=0, description="uploads are deleted this long after their last write"
    )
    result_retention_days: int = Field(
        30, gt=0, description="results are deleted this long after their last write or cache hit"
    )
    max_effects: int = Field(8, ge=1, description="effects one job may ask for")
    key_pepper: str = Field(
        "", description="HMAC key for API key digests; kept in the data dir if empty (local)"
    )
    key_cache_s: float = Field(
        5.0, ge=0, description="how long an instance trusts a key record: revocation delay"
    )
    allow_anonymous: bool = Field(True, description="accept requests without an API key")
    trusted_proxy_hops: int = Field(
        0,
        ge=0,
        description="proxies in front of ingest that append to X-Forwarded-For (Cloud Run: "
        "1); 0: the header is ignored and the socket's peer is the client",
    )
    cors_origins: str = Field(
        "", description="comma-separated exact origins granted CORS besides public_url's"
    )
    page_key: str = Field(
        "", description="publishable token the served page sends (GCP: anonymous is off)"
    )

    # the display rendition every result gets first (cutout/results.py)
    display_long_side: int = Field(
        DISPLAY_LONG_SIDE, ge=64, le=8192, description="display rendition's long side, px"
    )
    display_quality: int = Field(
        DISPLAY_QUALITY,
        ge=DISPLAY_QUALITY_FLOOR,
        le=100,
        description="display rendition's lossy WebP quality",
    )

    # segmentation
    segmenter: str = Field("inspyrenet", description="name in the segmenter registry")
    model_mode: str = Field("base", pattern="^(base|fast)$")
    weights: str | None = Field(None, description="checkpoint path or URI")
    model_version: str = Field(
        "1", description="bump when the weights change: it is part of every cache key"
    )
    device: str = Field("auto", description="auto, cpu, cuda or cuda:N (runtime torch)")
    model_runtime: str = Field(
        "openvino",
        pattern="^(openvino|torch)$",
        description="openvino: fp32 on the CPU, 1.8x torch's speed there (worker/MODEL.md); "
        "torch: on the device, any dtype (a GPU needs it)",
    )
    model_dtype: str = Field(
        "fp32", pattern="^(fp32|bf16|fp16)$", description="inference precision (autocast)"
    )
    channels_last: bool = Field(
        False, description="channels-last convolutions (slower on CPU: worker/MODEL.md)"
    )
    foreground: bool = Field(True, description="estimate foreground colours at edges")

    # the worker loop
    batch_size: int = Field(4, ge=1, le=64)
    batch_wait_ms: int = Field(200, ge=0, description="longest wait to fill a batch")
    poll_s: float = Field(1.0, gt=0, description="longest single wait for a first message")
    idle_exit_s: float = Field(60.0, ge=0, description="exit after this long idle; 0 never")
    lease_s: int = Field(60, ge=10, description="visibility timeout / ack deadline")
    max_attempts: int = Field(5, ge=1, description="deliveries before dead-lettering")
    retry_base_s: float = Field(2.0, ge=0, description="first nack delay; doubles")
    retry_cap_s: float = Field(300.0, ge=0, description="longest nack delay")
    batch_guard_every: int = Field(
        10, ge=0, description="after N pulls without a batch job, serve one first; 0 never"
    )
    decode_threads: int = Field(4, ge=1)
    memory_budget_mp: int = Field(
        200, ge=1, description="megapixels of photos a worker holds decoded at once"
    )

    # scaling from zero (cutout/scaling.py)
    autoscale: bool = Field(True, description="ingest starts workers for the backlog")
    max_workers: int = Field(4, ge=1, description="most workers at once; the launcher's cap")
    jobs_per_worker: int = Field(16, ge=1, description="backlog that justifies one worker")
    start_window_s: float = Field(
        120.0, gt=0, description="how long a requested worker counts as on its way"
    )
    failure_backoff_s: float = Field(
        30.0,
        ge=0,
        description="no worker starts this long after a fatal worker failure; doubles",
    )
    failure_backoff_cap_s: float = Field(
        900.0, ge=0, description="longest pause in starting workers after fatal errors"
    )
    scale_caller: str = Field(
        "", description="service account allowed to call /v1/scale (OIDC); empty: anyone"
    )

    # quotas at the edge (cutout/quotas.py): requests per minute and images per day
    quota_storage_uri: str = Field(
        "memory://",
        description="counters: memory:// (one ingest process) or redis://, rediss:// "
        "(shared by every ingest instance)",
    )
    quota_storage_ca: str = Field("", description="PEM CA of the Redis TLS certificate")
    quota_anonymous_requests_per_minute: int = Field(120, ge=1, description="per address")
    quota_anonymous_images_per_day: int = Field(200, ge=1, description="per address")
    quota_publishable_requests_per_minute: int = Field(
        6000, ge=1, description="per publishable key, all its clients, unless its record says"
    )
    quota_publishable_images_per_day: int = Field(20_000, ge=1)
    quota_publishable_client_requests_per_minute: int = Field(
        120, ge=1, description="per (publishable key, client address)"
    )
    quota_publishable_client_images_per_day: int = Field(200, ge=1)
    quota_secret_requests_per_minute: int = Field(
        6000, ge=1, description="per secret key, unless its record says"
    )
    quota_secret_images_per_day: int = Field(100_000, ge=1)
    quota_warm_per_minute: int = Field(6, ge=1, description="POST /v1/warm per subject")

    # load shedding (cutout/shedding.py): a new job waits behind its tier and those above
    backlog_bound_high: int = Field(5000, ge=1, description="jobs queued or running at high")
    backlog_bound_standard: int = Field(2000, ge=1, description="... at high and standard")
    backlog_bound_batch: int = Field(1000, ge=1, description="... at every tier")
    backlog_drain_per_s: float = Field(
        4.0, gt=0, description="jobs/s the workers clear: the Retry-After estimate of a 503"
    )

    # the remove.bg-compatible route (ingest/removebg/): a synchronous wait per request
    removebg_wait_s: float = Field(
        30.0, gt=0, le=300, description="the longest POST /v1.0/removebg waits for its job"
    )
    removebg_max_waits: int = Field(16, ge=1, description="concurrent waits per instance")
    removebg_max_waits_per_key: int = Field(4, ge=1, description="concurrent waits per key")

    # fetching image_url / bg_image_url (ingest/fetch.py)
    fetch_allow_http: bool = Field(False, description="also fetch plain http:// URLs")
    fetch_timeout_s: float = Field(
        10.0, gt=0, le=60, description="a whole fetch, redirects included"
    )
    fetch_max_redirects: int = Field(3, ge=0, le=10)

    # Google Cloud (CUTOUT_BACKEND=gcp); the *_EMULATOR_HOST variables are honoured
    gcp_project: str = ""
    gcp_region: str = "us-central1"
    uploads_bucket: str = ""
    results_bucket: str = ""
    topic_prefix: str = Field("cutout", description="topics are <prefix>-<tier>")
    jobs_collection: str = "jobs"
    keys_collection: str = "keys"
    workers_collection: str = "workers"
    worker_job: str = Field("cutout-worker", description="the Cloud Run job to execute")
    launcher: LauncherKind = Field(
        LauncherKind.CLOUDRUN, description="gcp: start workers as cloudrun jobs or local processes"
    )

    # operations (cutout/metrics.py, cutout/costs.py)
    price_table: str = Field(
        "", description="TOML price table for costs; empty: the built-in cutout/data/prices.toml"
    )

    log_level: str = "INFO"
    start_requested_at: datetime | None = Field(
        None, description="set by the launcher: when this worker was asked for (launch time)"
    )

    @model_validator(mode="after")
    def _bounds_shed_batch_first(self) -> Settings:
        bounds = (self.backlog_bound_high, self.backlog_bound_standard, self.backlog_bound_batch)
        if not bounds[0] >= bounds[1] >= bounds[2]:
            raise ValueError(
                "backlog bounds must shed batch first and high last: need "
                f"{ENV_PREFIX}BACKLOG_BOUND_HIGH >= _STANDARD >= _BATCH, got {bounds}"
            )
        return self

    @model_validator(mode="after")
    def _top_up_ends_before_the_lease(self) -> Settings:
        """A batch's first messages wait for company unextended (the lease keeper starts
        with the batch): past their lease, the queue would hand them out again."""
        if self.batch_wait_ms / 1000 > self.lease_s / 2:
            raise ValueError(
                f"{ENV_PREFIX}BATCH_WAIT_MS ({self.batch_wait_ms}) must be at most half of "
                f"{ENV_PREFIX}LEASE_S ({self.lease_s} s): a batch would outlast its leases"
            )
        return self

    @model_validator(mode="after")
    def _openvino_runs_fp32_on_the_cpu(self) -> Settings:
        if self.model_runtime == "openvino" and (
            self.model_dtype != "fp32" or self.device.startswith("cuda")
        ):
            raise ValueError(
                f"{ENV_PREFIX}MODEL_RUNTIME=openvino runs fp32 on the CPU: for "
                f"{ENV_PREFIX}DEVICE={self.device} and {ENV_PREFIX}MODEL_DTYPE={self.model_dtype}"
                f" set {ENV_PREFIX}MODEL_RUNTIME=torch"
            )
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``CUTOUT_*`` variables; unknown ``CUTOUT_`` names are an error, not ignored."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, value in env.items():
            if not name.startswith(ENV_PREFIX):
                continue
            field = name[len(ENV_PREFIX) :].lower()
            if field not in cls.model_fields:
                raise ConfigurationError(f"unknown setting {name}")
            values[field] = value
        return cls._build(values)

    def with_overrides(self, **overrides: Any) -> Settings:
        """Apply command-line flags; ``None`` means "flag not given"."""
        given = {k: v for k, v in overrides.items() if v is not None}
        return self._build({**self.model_dump(), **given})

    def to_env(self) -> dict[str, str]:
        """The settings as ``CUTOUT_*`` variables, to hand to child processes."""
        env = {}
        for name, value in self.model_dump(mode="json").items():
            if value is not None:
                env[ENV_PREFIX + name.upper()] = str(value)
        return env

    @property
    def model_identity(self) -> str:
        """What the result cache keys on: known to ingest without loading any model.

        Precision, runtime and foreground estimation change the pixels; channels-last only
        reorders float arithmetic (alpha within 0.1/255, worker/MODEL.md), so it is left out."""
        fg = "-fg" if self.foreground else ""
        model = f"{self.segmenter}-{self.model_mode}-{self.model_dtype}-{self.model_runtime}"
        return f"{model}{fg}@{self.model_version}"

    @property
    def display(self) -> DisplaySpec:
        """The display rendition new jobs ask for."""
        return DisplaySpec(long_side=self.display_long_side, quality=self.display_quality)

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "cutout.db"

    @classmethod
    def _build(cls, values: dict[str, Any]) -> Settings:
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{ENV_PREFIX}{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}"
                if e["loc"]
                else e["msg"]
                for e in exc.errors()
            )
            raise ConfigurationError(f"bad settings: {problems}") from exc
