"""The input's displayable preview (worker/preview.py): a JPEG that fits a phone's screen,
never upscaled, with the photo's content, recorded by the worker before any result."""

from __future__ import annotations

import io
import time
from typing import Any

import numpy as np
import pytest
from PIL import Image

from cutout import lifecycle
from cutout.backends import Backends
from cutout.job import Job, Preview, Rendition
from cutout.ports import StatusStore
from cutout.samples import jpeg_bytes, photo_like
from cutout.settings import Settings
from tests.support.worker import work_one
from worker.preview import PREVIEW_MAX_SIDE, encode_preview


def test_a_big_photo_is_shrunk_to_fit_and_keeps_its_look() -> None:
    rgb = photo_like(4032, 3024, seed=3)
    data, width, height = encode_preview(rgb)
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and image.size == (width, height) == (PREVIEW_MAX_SIDE, 768)
    small = np.asarray(image.resize((64, 48), Image.Resampling.BOX), dtype=np.float32)
    expected = np.asarray(Image.fromarray(rgb).resize((64, 48), Image.Resampling.BOX))
    assert np.abs(small - expected).mean() < 4


def test_a_small_photo_is_not_upscaled() -> None:
    data, width, height = encode_preview(photo_like(300, 200, seed=1))
    assert (width, height) == (300, 200) == Image.open(io.BytesIO(data)).size


def test_the_worker_records_the_preview_before_any_result(
    worker_settings: Settings, worker_backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The preview is made while the photo is segmented, yet is in the job before the
    first (display) result: the order the page relies on."""
    order: list[str] = []
    real_attach, real_record = lifecycle.attach_preview, worker_backends.status.record_result

    def attach(status: StatusStore, job_id: str, preview: Preview) -> Job:
        time.sleep(0.3)  # a slow store: the renderer must still wait for it
        order.append("preview")
        return real_attach(status, job_id, preview)

    def record(job_id: str, effect: str, *args: Any, **kwargs: Any) -> Job:
        order.append(kwargs.get("rendition", Rendition.FULL).value)
        return real_record(job_id, effect, *args, **kwargs)

    monkeypatch.setattr(lifecycle, "attach_preview", attach)
    monkeypatch.setattr(worker_backends.status, "record_result", record)
    job, _ = work_one(worker_settings, worker_backends, jpeg_bytes(photo_like(640, 480)))
    assert order == ["preview", "display", "full"]
    assert job.preview is not None and "preview" in job.timings.stages
    preview = Image.open(io.BytesIO(worker_backends.blobs.get(job.preview.key)))
    assert preview.size == (job.preview.width, job.preview.height) == (640, 480)


def test_a_failing_preview_leaves_the_job_done_without_one(
    worker_settings: Settings, worker_backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(status: StatusStore, job_id: str, preview: Preview) -> Job:
        raise OSError("preview store unavailable")

    monkeypatch.setattr(lifecycle, "attach_preview", broken)
    job, image = work_one(worker_settings, worker_backends, jpeg_bytes(photo_like(320, 240)))
    assert job.preview is None and job.results["color"].width == 320
    assert image.size == (320, 240)
