"""All configuration in one typed object.

Precedence, written once: a command-line flag (applied by the CLI with
:meth:`Settings.with_overrides`) beats a ``CUTOUT_<FIELD>`` environment variable, which
beats the default here. The defaults run the whole pipeline on one machine with nothing
installed beyond the Python packages: files and SQLite under ``./.cutout``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cutout.errors import ConfigurationError

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
    max_effects: int = Field(8, ge=1, description="effects one job may ask for")
    api_keys: str = Field(
        "",
        description="'id:secret:tier' entries separated by ','; tier is the highest "
        "priority the key may use (high, standard or batch)",
    )
    allow_anonymous: bool = Field(True, description="accept requests without an API key")

    # segmentation
    segmenter: str = Field("inspyrenet", description="name in the segmenter registry")
    model_mode: str = Field("base", pattern="^(base|fast)$")
    weights: str | None = Field(None, description="checkpoint path or URI")
    model_version: str = Field(
        "1", description="bump when the weights change: it is part of every cache key"
    )
    device: str = Field("auto", description="auto, cpu, cuda or cuda:N")
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

    # Google Cloud (CUTOUT_BACKEND=gcp); the *_EMULATOR_HOST variables are honoured
    gcp_project: str = ""
    gcp_region: str = "us-central1"
    uploads_bucket: str = ""
    results_bucket: str = ""
    topic_prefix: str = Field("cutout", description="topics are <prefix>-<tier>")
    jobs_collection: str = "jobs"
    workers_collection: str = "workers"
    worker_job: str = Field("cutout-worker", description="the Cloud Run job to execute")
    launcher: LauncherKind = Field(
        LauncherKind.CLOUDRUN, description="gcp: start workers as cloudrun jobs or local processes"
    )

    log_level: str = "INFO"

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

        Precision and foreground estimation change the pixels; channels-last only reorders
        float arithmetic (alpha within 0.1/255, worker/MODEL.md), so it is left out."""
        fg = "-fg" if self.foreground else ""
        return f"{self.segmenter}-{self.model_mode}-{self.model_dtype}{fg}@{self.model_version}"

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
                for e in exc.errors()
            )
            raise ConfigurationError(f"bad settings: {problems}") from exc


def local_url_secret(settings: Settings) -> str:
    """The local URL-signing key: the configured one, or one kept in the data directory so
    that ingest and workers started separately agree on it."""
    if settings.url_secret:
        return settings.url_secret
    path = settings.data_dir / "url-secret"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        candidate = secrets.token_hex(32)
        try:
            with path.open("x") as fh:
                fh.write(candidate)
            return candidate
        except FileExistsError:
            return path.read_text().strip()
