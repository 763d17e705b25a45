"""Launcher guarantees, for every adapter family: heartbeats, goodbyes, the scale-up
lease, and workers that a start spawns (stand-in workers from tests/support/local_procs.py:
Cloud Run executions are tested against a fake client in tests/test_gcp_cloudrun.py)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import pytest

from cutout.backends import Backends
from cutout.job import utcnow
from cutout.ports import Launcher, StartRecord, WorkerBeat
from cutout.worker_life import WorkerLife
from tests.support.local_procs import ROOT, command

from .conftest import Family

T = TypeVar("T")


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


def test_a_beat_keeps_the_worker_start_time(launcher: Launcher) -> None:
    started = utcnow().replace(microsecond=0) - timedelta(seconds=30)
    launcher.beat(WorkerBeat(worker_id="w1", at=utcnow(), started_at=started))
    [beat] = launcher.alive(max_age_s=60)
    assert beat.started_at is not None
    assert abs((beat.started_at - started).total_seconds()) < 0.01


def test_arrivals_list_workers_that_came_alive_or_gone(launcher: Launcher) -> None:
    """A worker that started after ``since`` and beat counts, even after its goodbye: the
    scaler must not wait for a start that already came and went."""
    now = utcnow().replace(microsecond=0)
    early, late = now - timedelta(seconds=300), now - timedelta(seconds=10)
    launcher.beat(WorkerBeat(worker_id="old", at=now, started_at=early))
    launcher.beat(WorkerBeat(worker_id="came", at=now, started_at=late))
    launcher.goodbye("came")
    since = now - timedelta(seconds=60)
    assert launcher.arrivals(since=since) == [late]
    assert launcher.arrivals(since=early) == [early, late]


def test_claim_starts_records_what_decide_returns(launcher: Launcher) -> None:
    seen: list[list[StartRecord]] = []

    def decide(records: Sequence[StartRecord]) -> int:
        seen.append(list(records))
        return 2

    assert launcher.claim_starts(decide, window_s=60) == 2
    assert launcher.claim_starts(lambda records: 0, window_s=60) == 0
    last: list[StartRecord] = []
    launcher.claim_starts(lambda records: last.extend(records) or 0, window_s=60)
    assert [r.count for r in last] == [2]
    assert abs((last[0].at - utcnow()).total_seconds()) < 30


def test_concurrent_claims_are_serialised(open_backends: Callable[..., Backends]) -> None:
    """Two ingest instances, four uploads at once on each, each wanting two workers in
    total: two are started, once."""
    launchers = [open_backends().launcher for _ in range(2)]

    def claim(launcher: Launcher) -> int:
        return launcher.claim_starts(
            lambda records: max(0, 2 - sum(r.count for r in records)), window_s=60
        )

    with ThreadPoolExecutor(8) as pool:
        claimed = list(pool.map(claim, launchers * 4))
    assert sum(claimed) == 2
    assert sorted(claimed)[-1] in (1, 2)


def test_start_records_leave_the_window(launcher: Launcher) -> None:
    assert launcher.claim_starts(lambda records: 1, window_s=60) == 1
    deadline = time.monotonic() + 30
    counts: list[int] = []
    while True:
        launcher.claim_starts(lambda records: counts.append(len(records)) or 0, window_s=1.0)
        if counts[-1] == 0:
            break
        assert time.monotonic() < deadline, "records older than the window are still seen"
        time.sleep(0.5)


def wait_for(predicate: Callable[[], T | None], within_s: float = 60, what: str = "it") -> T:
    deadline = time.monotonic() + within_s
    while not (result := predicate()):
        assert time.monotonic() < deadline, f"no {what} within {within_s} s"
        time.sleep(0.05)
    return result


@pytest.mark.slow
def test_started_workers_beat_and_stop(
    family: Family, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The children read their settings from CUTOUT_* only (a stray parent variable would
    make Settings.from_env fail), beat where the launcher looks, with their start time,
    and say goodbye on stop."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("CUTOUT_NOT_A_SETTING", "parent only")
    with family.spawn(tmp_path, command("worker")) as spawned:
        spawned.launcher.start(2)
        pids = spawned.processes.running()
        assert len(pids) == 2
        beats = wait_for(
            lambda: b if len(b := spawned.launcher.alive(max_age_s=30)) == 2 else None,
            what="two beating workers",
        )
        assert {b.worker_id for b in beats} == {f"worker-{pid}" for pid in pids}
        assert all(b.started_at is not None for b in beats)
        spawned.processes.stop(timeout_s=30)
        assert spawned.processes.running() == []
        assert spawned.launcher.alive(max_age_s=30) == []
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_goodbye_with_a_failure_is_listed_until_it_is_too_old(launcher: Launcher) -> None:
    reason = "configuration: cannot read checkpoint /w.pth"
    launcher.goodbye("w1", failure=reason)
    launcher.beat(WorkerBeat(worker_id="w2", at=utcnow()))
    launcher.goodbye("w2")  # a clean exit is no failure
    [failure] = launcher.failures(max_age_s=60)
    assert (failure.worker_id, failure.reason) == (
        "w1",
        "configuration: cannot read checkpoint /w.pth",
    )
    assert abs((failure.at - utcnow()).total_seconds()) < 30
    assert launcher.alive(max_age_s=60) == []
    time.sleep(1.1)
    assert launcher.failures(max_age_s=1) == []


def _life(worker_id: str, started_s_ago: float, **fields: object) -> WorkerLife:
    started = utcnow().replace(microsecond=0) - timedelta(seconds=started_s_ago)
    return WorkerLife(worker_id=worker_id, started=started, **fields)  # type: ignore[arg-type]


def test_a_life_record_is_kept_and_rewritten(launcher: Launcher) -> None:
    life = _life("w1", 60)
    launcher.record_life(life)
    ended = life.model_copy(
        update={"ended": utcnow(), "busy_seconds": 12.5, "jobs_served": 4, "end_reason": "idle"}
    )
    launcher.record_life(ended)
    [stored] = launcher.lives(life.started, utcnow() + timedelta(seconds=1))
    assert (stored.worker_id, stored.busy_seconds, stored.jobs_served) == ("w1", 12.5, 4)
    assert stored.end_reason == "idle" and stored.ended is not None
    assert abs((stored.started - life.started).total_seconds()) < 0.01


def test_lives_are_listed_by_start_in_a_window_oldest_first_and_bounded(
    launcher: Launcher,
) -> None:
    for name, ago in [("old", 3600), ("b", 300), ("a", 200), ("new", 10)]:
        launcher.record_life(_life(name, ago))
    now = utcnow()
    window = launcher.lives(now - timedelta(seconds=400), now - timedelta(seconds=60))
    assert [w.worker_id for w in window] == ["b", "a"]
    everyone = launcher.lives(now - timedelta(days=1), now + timedelta(seconds=1), limit=3)
    assert [w.worker_id for w in everyone] == ["old", "b", "a"]
    rest = launcher.lives(now - timedelta(days=1), now, after=everyone[-1])
    assert [w.worker_id for w in rest] == ["new"]
    tied = [everyone[0].model_copy(update={"worker_id": f"t{i}"}) for i in range(3)]
    for w in tied:
        launcher.record_life(w)
    after_old = launcher.lives(now - timedelta(days=1), now, after=everyone[0], limit=2)
    assert [w.worker_id for w in after_old] == ["t0", "t1"]  # same start: by worker id
    after_t1 = launcher.lives(now - timedelta(days=1), now, after=after_old[1], limit=2)
    assert [w.worker_id for w in after_t1] == ["t2", "b"]
    with pytest.raises(ValueError):
        launcher.lives(now - timedelta(days=1), now, limit=0)
