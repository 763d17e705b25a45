"""SqliteJobQueue beyond the contract: several processes on one file, dead-letter
bookkeeping, and what a waiting pull costs."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from cutout.job import Priority
from cutout.local import SqliteJobQueue
from tests.support.local_procs import ROOT, command


def run_children(args: list[list[str]], timeout_s: float = 120) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen(command(*a), env=env) for a in args]
    for proc in procs:
        assert proc.wait(timeout=timeout_s) == 0, f"child {proc.args!r} failed"


@pytest.mark.slow
def test_processes_share_the_queue_without_double_leases(tmp_path: Path) -> None:
    """Four processes drain 300 messages; odd ones are dropped on first delivery so they
    come back after their lease. Two processes holding one delivery at once would show up
    as a repeated (job, attempt) pair."""
    db = tmp_path / "q.db"
    queue = SqliteJobQueue(db, lease_s=0.5, max_attempts=5, guard_every=0)
    total = 300
    for i in range(total):
        queue.publish(str(i), list(Priority)[i % 3])
    ready = tmp_path / "ready"
    ready.mkdir()
    outs = [tmp_path / f"out{n}.jsonl" for n in range(4)]
    run_children([["consume", str(db), str(o), "0.5", str(ready), "4"] for o in outs])

    records = [json.loads(line) for o in outs for line in o.read_text().splitlines()]
    per_delivery = Counter((r["job"], r["attempt"]) for r in records)
    assert max(per_delivery.values()) == 1
    assert len({r["lease"] for r in records}) == len(records)
    attempts: dict[int, list[int]] = {}
    for r in records:
        attempts.setdefault(int(r["job"]), []).append(r["attempt"])
    assert sorted(attempts) == list(range(total))
    for job, seen in attempts.items():
        assert sorted(seen) == ([1] if job % 2 == 0 else [1, 2]), job
    assert sum(1 for o in outs if o.read_text()) >= 2, "the children did not overlap"
    assert sum(queue.depth().values()) == 0


def test_a_second_handle_sees_the_same_queue(tmp_path: Path) -> None:
    one = SqliteJobQueue(tmp_path / "q.db", lease_s=30, max_attempts=3, guard_every=0)
    two = SqliteJobQueue(tmp_path / "q.db", lease_s=30, max_attempts=3, guard_every=0)
    one.publish("j", Priority.HIGH)
    [msg] = two.pull(1, wait_s=1)
    one.ack([msg])
    assert sum(two.depth().values()) == 0


def test_depth_excludes_a_message_due_for_dead_letters(tmp_path: Path) -> None:
    queue = SqliteJobQueue(tmp_path / "q.db", lease_s=0.2, max_attempts=1, guard_every=0)
    queue.publish("j", Priority.STANDARD)
    [msg] = queue.pull(1, wait_s=1)
    assert queue.depth()[Priority.STANDARD] == 1
    deadline = time.monotonic() + 10
    while queue.depth()[Priority.STANDARD]:
        assert time.monotonic() < deadline, "the expired last lease is still counted"
        time.sleep(0.05)
    [dead] = queue.pull_dead_letters(5)
    assert (dead.job_id, dead.attempt) == ("j", 1)
    queue.ack([msg])  # the old lease no longer names anything
    assert queue.pull_dead_letters(5) == []
    queue.ack([dead])


def test_nack_of_the_last_attempt_dead_letters_at_once(tmp_path: Path) -> None:
    queue = SqliteJobQueue(tmp_path / "q.db", lease_s=30, max_attempts=1, guard_every=0)
    queue.publish("j", Priority.BATCH)
    [msg] = queue.pull(1, wait_s=1)
    queue.nack(msg, delay_s=60)
    [dead] = queue.pull_dead_letters(1)
    assert (dead.job_id, dead.priority) == ("j", Priority.BATCH)
    queue.nack(dead, delay_s=0)  # a dead letter given back stays a dead letter
    assert queue.pull(1, wait_s=0) == []
    [again] = queue.pull_dead_letters(1)
    assert again.job_id == "j"


def test_a_late_ack_is_honoured_until_someone_else_pulls(tmp_path: Path) -> None:
    queue = SqliteJobQueue(tmp_path / "q.db", lease_s=0.2, max_attempts=5, guard_every=0)
    queue.publish("j", Priority.STANDARD)
    [msg] = queue.pull(1, wait_s=1)
    time.sleep(0.3)  # the lease has run out, and nobody pulled since
    queue.ack([msg])
    assert sum(queue.depth().values()) == 0


def test_waiting_pull_neither_spins_nor_lags(tmp_path: Path) -> None:
    """A waiting pull costs little CPU and wakes within a few poll intervals of a publish
    made through another handle (as another process would)."""
    consumer = SqliteJobQueue(tmp_path / "q.db", lease_s=30, max_attempts=5, guard_every=0)
    producer = SqliteJobQueue(tmp_path / "q.db", lease_s=30, max_attempts=5, guard_every=0)
    cpu, wall = time.thread_time(), time.monotonic()
    assert consumer.pull(1, wait_s=1.0) == []
    cpu, wall = time.thread_time() - cpu, time.monotonic() - wall
    assert cpu < 0.25 * wall, f"waiting used {cpu:.3f} s of CPU in {wall:.3f} s"

    published: list[float] = []

    def publish() -> None:
        producer.publish("j", Priority.HIGH)
        published.append(time.monotonic())

    timer = threading.Timer(0.3, publish)
    timer.start()
    got = consumer.pull(1, wait_s=10)
    woke = time.monotonic()
    timer.join()
    assert [m.job_id for m in got] == ["j"]
    assert woke - published[0] < 2.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lease_s": 0, "max_attempts": 1, "guard_every": 0},
        {"lease_s": 1, "max_attempts": 0, "guard_every": 0},
        {"lease_s": 1, "max_attempts": 1, "guard_every": -1},
    ],
)
def test_bad_settings_are_refused(tmp_path: Path, kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SqliteJobQueue(tmp_path / "q.db", **kwargs)  # type: ignore[arg-type]


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    queue = SqliteJobQueue(tmp_path / "q.db", lease_s=1, max_attempts=1, guard_every=0)
    with pytest.raises(ValueError):
        queue.publish("j", "urgent")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        queue.pull(0, wait_s=0)
    with pytest.raises(ValueError):
        queue.pull_dead_letters(0)
    with pytest.raises(ValueError):
        queue.extend([], lease_s=0)
