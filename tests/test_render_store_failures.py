"""When several results of one job fail to store, the worker logs each failure with its
job and effect (not only the one it raises to retry the job), and records none of them
as the effect's own error: a storage failure is the job's, retried as a whole."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from cutout.backends import open_backends
from cutout.errors import TransientError
from cutout.job import ClientInfo, OutputSpec, Priority
from cutout.samples import jpeg_bytes, photo_like
from cutout.settings import Settings
from ingest.service import IngestService, Submission
from tests.support.render import render

PHOTO = jpeg_bytes(photo_like(24, 16))
EFFECTS = ["color", "blackwhite", "popart"]


def test_every_failed_store_is_logged_with_its_job_and_effect(
    settings: Settings, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings.with_overrides(autoscale=False)
    backends = open_backends(settings)
    real_put = backends.blobs.put

    def put(key: str, data: bytes, **options: Any) -> bool:
        """The real local store, except that writing a result fails as a full disk would."""
        if key.startswith("results/"):
            raise TransientError(f"no space left writing {key}")
        return real_put(key, data, **options)

    monkeypatch.setattr(backends.blobs, "put", put)
    job = (
        IngestService(settings, backends)
        .submit(
            Submission(
                effects=[(name, {}) for name in EFFECTS],
                output=OutputSpec(),
                priority=Priority.STANDARD,
                client=ClientInfo(),
                data=PHOTO,
            )
        )
        .job
    )

    with caplog.at_level(logging.ERROR, logger="worker.render"), pytest.raises(TransientError):
        render(settings, backends, job, PHOTO)

    failures = [r for r in caplog.records if "storing" in r.getMessage()]
    fields = [getattr(r, "fields", {}) for r in failures]
    assert sorted(f.get("effect", "") for f in fields) == sorted(EFFECTS)
    for record, field in zip(failures, fields, strict=True):
        assert field["job_id"] == job.id
        assert f"job {job.id}: storing {field['effect']} failed" in record.getMessage()
        assert "no space left" in record.getMessage() and record.exc_info is not None
    after = backends.status.get(job.id)
    assert after.results == {} and after.effect_errors == {}
