"""Launcher heartbeat guarantees, for every adapter family (``start`` is adapter-specific
and tested with each adapter)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cutout.backends import Backends
from cutout.job import utcnow
from cutout.ports import Launcher, WorkerBeat


@pytest.fixture
def launcher(backends: Backends) -> Launcher:
    return backends.launcher


def ids(beats: list[WorkerBeat]) -> set[str]:
    return {b.worker_id for b in beats}


def test_nobody_alive_at_first(launcher: Launcher) -> None:
    assert launcher.alive(max_age_s=60) == []


def test_a_beat_makes_a_worker_alive(launcher: Launcher) -> None:
    at = utcnow().replace(microsecond=0)
    launcher.beat(WorkerBeat(worker_id="w1", at=at, busy=True, jobs_done=3))
    [beat] = launcher.alive(max_age_s=60)
    assert (beat.worker_id, beat.busy, beat.jobs_done) == ("w1", True, 3)
    assert abs((beat.at - at).total_seconds()) < 0.01


def test_the_latest_beat_wins(launcher: Launcher) -> None:
    launcher.beat(WorkerBeat(worker_id="w1", at=utcnow() - timedelta(seconds=5), busy=True))
    launcher.beat(WorkerBeat(worker_id="w1", at=utcnow(), busy=False, jobs_done=9))
    [beat] = launcher.alive(max_age_s=60)
    assert (beat.busy, beat.jobs_done) == (False, 9)


def test_old_beats_do_not_count(launcher: Launcher) -> None:
    launcher.beat(WorkerBeat(worker_id="stale", at=utcnow() - timedelta(seconds=120)))
    launcher.beat(WorkerBeat(worker_id="fresh", at=utcnow()))
    assert ids(launcher.alive(max_age_s=60)) == {"fresh"}
    assert ids(launcher.alive(max_age_s=600)) == {"stale", "fresh"}


def test_goodbye_is_final(launcher: Launcher) -> None:
    launcher.beat(WorkerBeat(worker_id="w1", at=utcnow()))
    launcher.beat(WorkerBeat(worker_id="w2", at=utcnow()))
    launcher.goodbye("w1")
    assert ids(launcher.alive(max_age_s=60)) == {"w2"}
    launcher.beat(WorkerBeat(worker_id="w1", at=utcnow()))
    assert ids(launcher.alive(max_age_s=60)) == {"w2"}
    launcher.goodbye("never-beat")
    launcher.goodbye("w2")
    assert launcher.alive(max_age_s=60) == []
