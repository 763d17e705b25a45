"""Fixtures and helpers for the in-process worker tests (tests/test_worker_*.py): real
local adapters, the deterministic test segmenters, ingest's own submit path.

Registered for every test module by tests/conftest.py; a fixture here does nothing until
a test asks for it, and the worker's modules are imported only then."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from PIL import Image

from cutout.backends import Backends, open_backends
from cutout.job import ClientInfo, Job, JobState, OutputSpec, Priority
from cutout.ports.queue import Message
from cutout.settings import Settings
from ingest.service import IngestService, Submission

if TYPE_CHECKING:
    from worker.loop import Worker


@pytest.fixture
def test_segmenters(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The test segmenters in the registry (for this test only), call counts reset."""
    from tests.support import segmenters
    from worker.segmenters import base

    for name, cls in {
        "test-ellipse": segmenters.EllipseSegmenter,
        "test-failing": segmenters.FailingSegmenter,
        "test-picky": segmenters.PickySegmenter,
        "test-poison": segmenters.PoisonSegmenter,
    }.items():
        monkeypatch.setitem(base.SEGMENTERS, name, cls)
    segmenters.EllipseSegmenter.calls = []
    yield


@pytest.fixture
def worker_settings(settings: Settings, test_segmenters: None) -> Settings:
    return settings.with_overrides(
        segmenter="test-ellipse",
        poll_s=0.2,
        batch_wait_ms=50,
        idle_exit_s=1.0,
        retry_base_s=0.0,
        lease_s=10,
        max_attempts=3,
        autoscale=False,  # these tests run the worker themselves
    )


@pytest.fixture
def worker_backends(worker_settings: Settings) -> Backends:
    return open_backends(worker_settings)


def submit(
    settings: Settings,
    backends: Backends,
    data: bytes,
    *,
    effects: tuple[str, ...] = ("color",),
    priority: Priority = Priority.STANDARD,
) -> str:
    """Submit ``data`` through ingest's service; the new job's id."""
    sub = Submission(
        effects=[(name, {}) for name in effects],
        output=OutputSpec(),
        priority=priority,
        client=ClientInfo(),
        data=data,
    )
    return IngestService(settings, backends).submit(sub).job.id


def run_worker(settings: Settings, backends: Backends, *, max_batches: int | None = None) -> Worker:
    from worker.loop import Worker

    worker = Worker(settings=settings, backends=backends, max_batches=max_batches)
    worker.work()
    return worker


def work_one(settings: Settings, backends: Backends, photo: bytes) -> tuple[Job, Image.Image]:
    """Submit ``photo`` for ``color``, run one batch; the finished job and its image."""
    job_id = submit(settings, backends, photo)
    run_worker(settings, backends, max_batches=1)
    job = backends.status.get(job_id)
    assert job.state is JobState.DONE, job.error
    return job, Image.open(io.BytesIO(backends.blobs.get(job.results["color"].key)))


def pull_all(backends: Backends, count: int, *, timeout_s: float = 10) -> list[Message]:
    """Pull until ``count`` messages arrived (handed-back messages come back after the
    worker's poll interval, not necessarily in one pull) or ``timeout_s`` passed."""
    deadline = time.monotonic() + timeout_s
    messages: list[Message] = []
    while len(messages) < count and (left := deadline - time.monotonic()) > 0:
        messages += backends.queue.pull(count - len(messages), wait_s=left)
    return messages
