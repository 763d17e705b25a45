"""The worker's account of its life: busy seconds on the injected clock, jobs served, the
lasting record and its exit line; and a real worker writes that record on its way out."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from cutout.backends import open_backends
from cutout.job import utcnow
from cutout.settings import Settings
from tests.support.segmenters import EllipseSegmenter
from worker.life import LifeAccount, exit_fields
from worker.loop import Worker
from worker.segmenters import base


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_busy_seconds_count_only_stretches_with_a_batch_in_flight() -> None:
    clock = Clock()
    life = LifeAccount("w", utcnow(), clock)
    clock.now = 110.0
    life.batch_began()
    clock.now = 112.0
    life.batch_began()  # overlapping batch: still one busy stretch
    clock.now = 115.0
    life.batch_ended(2)
    assert life.busy_seconds() == 5.0  # the open stretch counts so far
    clock.now = 118.0
    life.batch_ended(1)
    clock.now = 130.0
    assert life.busy_seconds() == 8.0
    assert life.idle_state() == (0, 118.0)
    record = life.record(end_reason="idle")
    assert (record.jobs_served, record.busy_seconds, record.end_reason) == (3, 8.0, "idle")
    assert record.first_job is not None and record.ended is not None


def test_the_exit_line_carries_alive_and_busy_seconds() -> None:
    life = LifeAccount("w", utcnow() - timedelta(seconds=30), Clock()).record(end_reason="idle")
    fields = exit_fields(life)
    assert fields["event"] == "worker_exited" and fields["end_reason"] == "idle"
    assert 29 < fields["alive_s"] < 60 and fields["jobs_served"] == 0


def test_a_worker_leaves_its_life_record_when_it_exits_idle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(base.SEGMENTERS, "test-ellipse", EllipseSegmenter)
    settings = Settings(data_dir=tmp_path, url_secret="s").with_overrides(
        segmenter="test-ellipse", poll_s=0.1, idle_exit_s=0.3, autoscale=False
    )
    backends = open_backends(settings)
    worker = Worker(settings=settings, backends=backends)
    worker.work()
    [life] = backends.launcher.lives(utcnow() - timedelta(hours=1), utcnow())
    assert life.worker_id == worker.id and life.end_reason == "idle"
    assert life.ready is not None and life.first_job is None and life.jobs_served == 0
    assert life.ended is not None and life.ended >= life.ready >= life.started
