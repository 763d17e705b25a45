"""Child processes for the adapters' multi-process tests (run as a script: :func:`command`).

    consume DB OUT LEASE_S READY_DIR N     pull, record each delivery, ack (odd job numbers
                                          are dropped on their first delivery)
    claim DB OUT READY_DIR N JOB_ID...    try to move each job queued -> running, then
                                          record an effect named after this process
    worker                                a stand-in worker for the launchers (local or
                                          gcp, from CUTOUT_BACKEND): beats until SIGTERM,
                                          then says goodbye

Each writes JSON lines to OUT. ``READY_DIR``/``N`` is a start barrier: every child waits
until ``N`` children are ready, so they really run at the same time. Children need the
repository on ``PYTHONPATH`` (:data:`ROOT`).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from cutout.backends import open_backends
from cutout.errors import Conflict
from cutout.job import EffectResult, JobState, utcnow
from cutout.local import SqliteJobQueue, SqliteStatusStore
from cutout.ports import WorkerBeat
from cutout.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def command(*args: str) -> list[str]:
    """The command line that runs this file with ``args``."""
    return [sys.executable, str(Path(__file__).resolve()), *args]


def barrier(ready_dir: str, count: int) -> None:
    Path(ready_dir, str(os.getpid())).touch()
    deadline = time.monotonic() + 60
    while len(os.listdir(ready_dir)) < count:
        if time.monotonic() > deadline:
            raise TimeoutError("the other children never became ready")
        time.sleep(0.01)


def consume(db: str, out: str, lease_s: str, ready_dir: str, count: str) -> None:
    queue = SqliteJobQueue(Path(db), lease_s=float(lease_s), max_attempts=5, guard_every=0)
    barrier(ready_dir, int(count))
    deadline = time.monotonic() + 120
    with open(out, "w") as fh:
        while sum(queue.depth().values()) > 0 and time.monotonic() < deadline:
            for msg in queue.pull(3, wait_s=0.2):
                record = {"job": msg.job_id, "attempt": msg.attempt, "lease": msg.lease_id}
                fh.write(json.dumps(record) + "\n")
                time.sleep(0.002)
                if int(msg.job_id) % 2 == 0 or msg.attempt > 1:
                    queue.ack([msg])


def claim(db: str, out: str, ready_dir: str, count: str, *job_ids: str) -> None:
    status = SqliteStatusStore(Path(db))
    me = f"p{os.getpid()}"
    barrier(ready_dir, int(count))
    with open(out, "w") as fh:
        for job_id in job_ids:
            try:
                status.transition(job_id, [JobState.QUEUED], JobState.RUNNING)
                won = True
            except Conflict:
                won = False
            result = EffectResult(
                key=f"results/{me}", format="png", width=1, height=1, bytes=1, cache_key=me
            )
            status.record_result(job_id, me, result)
            fh.write(json.dumps({"job": job_id, "won": won, "me": me}) + "\n")


def worker() -> None:
    """Settings come from the CUTOUT_* environment, exactly as the real worker reads them."""
    launcher = open_backends(Settings.from_env()).launcher
    worker_id = f"worker-{os.getpid()}"
    started = utcnow()
    stopping = False

    def on_term(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    try:
        while not stopping:
            launcher.beat(WorkerBeat(worker_id=worker_id, at=utcnow(), started_at=started))
            time.sleep(0.1)
    finally:
        launcher.goodbye(worker_id)


if __name__ == "__main__":
    commands = {"consume": consume, "claim": claim, "worker": worker}
    commands[sys.argv[1]](*sys.argv[2:])  # type: ignore[operator]
