"""Retention on one machine: what Google Cloud's TTL policy and bucket lifecycle rules do.

On GCP, Firestore deletes jobs whose ``expire_at`` has passed and the buckets delete
uploads after ``upload_retention_days`` and results after ``result_retention_days``
(Terraform reads the same numbers: tests/test_infra_terraform.py ties them). Locally
nothing deletes by itself, so ``cutout up`` calls :meth:`Sweeper.tick` from its loop and
every :data:`SWEEP_EVERY_S` the sweeper deletes a bounded batch of what has expired; a
backlog of expired things goes in several sweeps.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from cutout.data_dir_secrets import local_url_secret
from cutout.local.blobstore import LocalBlobStore
from cutout.local.status import SqliteStatusStore
from cutout.ports.blobstore import is_upload
from cutout.settings import Settings

log = logging.getLogger(__name__)

SWEEP_EVERY_S = 60.0
_DAY_S = 86400.0


@dataclass(frozen=True)
class Retention:
    """How long blobs live after their last write (or touch), by key
    (:func:`~cutout.ports.blobstore.is_upload`, the rule that picks a GCS bucket)."""

    upload_days: int
    result_days: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Retention:
        return cls(settings.upload_retention_days, settings.result_retention_days)

    def max_age_s(self, key: str) -> float:
        days = self.upload_days if is_upload(key) else self.result_days
        return days * _DAY_S


@dataclass(frozen=True)
class Swept:
    jobs: int
    blobs: int


class Sweeper:
    """Sweeps ``status`` (expired jobs) and ``blobs`` (old uploads and results) at most
    once per ``every_s`` of ``clock`` (unix seconds; injectable for tests)."""

    def __init__(
        self,
        status: SqliteStatusStore,
        blobs: LocalBlobStore,
        retention: Retention,
        *,
        every_s: float = SWEEP_EVERY_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._status = status
        self._blobs = blobs
        self._retention = retention
        self._every_s = every_s
        self._clock = clock
        self._due = clock()

    def tick(self) -> Swept | None:
        """Sweep if one is due (the first call always is); ``None`` if not. A failing
        sweep is logged and tried again at the next due time: retention must not stop
        the pipeline it runs in."""
        now = self._clock()
        if now < self._due:
            return None
        self._due = now + self._every_s
        try:
            return self.sweep(now)
        except Exception:
            log.exception("retention sweep failed; trying again in %.0f s", self._every_s)
            return None

    def sweep(self, now: float) -> Swept:
        swept = Swept(
            jobs=self._status.sweep(datetime.fromtimestamp(now, UTC)),
            blobs=self._blobs.sweep(now, self._retention.max_age_s),
        )
        if swept.jobs or swept.blobs:
            log.info("retention: deleted %d expired jobs and %d blobs", swept.jobs, swept.blobs)
        return swept


def local_sweeper(settings: Settings) -> Sweeper:
    """The sweeper for the local family over ``settings.data_dir``."""
    return Sweeper(
        SqliteStatusStore(settings.db_path),
        LocalBlobStore(settings.blob_dir, settings.public_url, local_url_secret(settings)),
        Retention.from_settings(settings),
    )
