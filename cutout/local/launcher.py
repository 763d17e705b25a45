"""Launcher on one machine: workers are subprocesses, heartbeats live in SQLite."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from cutout.local.sqlite import Database
from cutout.ports.launcher import (
    MAX_LIVES_LIMIT,
    Launcher,
    StartRecord,
    WorkerBeat,
    WorkerFailure,
    check_lives_limit,
)
from cutout.settings import Settings
from cutout.worker_life import WorkerLife
from cutout.worker_processes import WORKER_COMMAND, WorkerProcesses

#: Rows of workers that said goodbye or went silent are dropped after this long.
FORGET_AFTER_S = 24 * 3600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS workers (
    worker_id TEXT PRIMARY KEY,
    at REAL NOT NULL,
    busy INTEGER NOT NULL,
    jobs_done INTEGER NOT NULL,
    started_at REAL,
    gone INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS worker_starts (
    at REAL NOT NULL,
    count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS worker_failures (
    worker_id TEXT PRIMARY KEY,
    at REAL NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS worker_failures_at ON worker_failures (at);
CREATE TABLE IF NOT EXISTS worker_lives (
    worker_id TEXT PRIMARY KEY,
    started REAL NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS worker_lives_started ON worker_lives (started, worker_id)
"""


class LocalLauncher(Launcher):
    """:meth:`start` spawns ``command`` (by default ``python -m worker``) through
    :class:`~cutout.worker_processes.WorkerProcesses`. Heartbeats go to the ``workers`` table
    of the settings' database; a worker that said goodbye stays gone (a late beat from its
    heartbeat thread does not bring it back)."""

    def __init__(self, settings: Settings, command: Sequence[str] = WORKER_COMMAND) -> None:
        self._processes = WorkerProcesses(settings, command)
        self._db = Database(settings.db_path, _SCHEMA)
        self._keep_lives_s = settings.job_ttl_days * 86400.0

    def start(self, count: int) -> None:
        self._processes.start(count)

    def beat(self, beat: WorkerBeat) -> None:
        started = beat.started_at.timestamp() if beat.started_at else None
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO workers (worker_id, at, busy, jobs_done, started_at)"
                " VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (worker_id) DO UPDATE SET"
                " at = excluded.at, busy = excluded.busy, jobs_done = excluded.jobs_done",
                (beat.worker_id, beat.at.timestamp(), int(beat.busy), beat.jobs_done, started),
            )

    def goodbye(self, worker_id: str, *, failure: str | None = None) -> None:
        now = time.time()
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO workers (worker_id, at, busy, jobs_done, gone) VALUES (?, ?, 0, 0, 1)"
                " ON CONFLICT (worker_id) DO UPDATE SET gone = 1",
                (worker_id, now),
            )
            if failure is not None:
                conn.execute(
                    "INSERT OR REPLACE INTO worker_failures (worker_id, at, reason)"
                    " VALUES (?, ?, ?)",
                    (worker_id, now, failure),
                )
            for table in ("workers", "worker_failures"):
                conn.execute(f"DELETE FROM {table} WHERE at < ?", (now - FORGET_AFTER_S,))

    def record_life(self, life: WorkerLife) -> None:
        """Upsert the record; records of workers started more than ``job_ttl_days`` ago
        are dropped here (what Firestore's TTL does on GCP)."""
        started = life.started.timestamp()
        with self._db.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO worker_lives (worker_id, started, doc) VALUES (?, ?, ?)",
                (life.worker_id, started, life.model_dump_json()),
            )
            conn.execute(
                "DELETE FROM worker_lives WHERE started < ?", (time.time() - self._keep_lives_s,)
            )

    def lives(
        self,
        since: datetime,
        until: datetime,
        *,
        limit: int = MAX_LIVES_LIMIT,
        after: WorkerLife | None = None,
    ) -> list[WorkerLife]:
        check_lives_limit(limit)
        sql = "SELECT doc FROM worker_lives WHERE started >= ? AND started < ?"
        params: list[object] = [since.timestamp(), until.timestamp()]
        if after is not None:
            sql += " AND (started > ? OR (started = ? AND worker_id > ?))"
            params += [after.started.timestamp(), after.started.timestamp(), after.worker_id]
        with self._db.read() as conn:
            query = sql + " ORDER BY started, worker_id LIMIT ?"
            rows = conn.execute(query, (*params, limit)).fetchall()
        return [WorkerLife.model_validate_json(row["doc"]) for row in rows]

    def failures(self, *, max_age_s: float) -> list[WorkerFailure]:
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT worker_id, at, reason FROM worker_failures WHERE at >= ?"
                " ORDER BY at DESC, worker_id",
                (time.time() - max_age_s,),
            ).fetchall()
        return [
            WorkerFailure(
                worker_id=row["worker_id"],
                at=datetime.fromtimestamp(row["at"], UTC),
                reason=row["reason"],
            )
            for row in rows
        ]

    def alive(self, *, max_age_s: float) -> list[WorkerBeat]:
        """Newest beat first."""
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT worker_id, at, busy, jobs_done, started_at FROM workers"
                " WHERE gone = 0 AND at >= ? ORDER BY at DESC, worker_id",
                (time.time() - max_age_s,),
            ).fetchall()
        return [
            WorkerBeat(
                worker_id=row["worker_id"],
                at=datetime.fromtimestamp(row["at"], UTC),
                busy=bool(row["busy"]),
                jobs_done=row["jobs_done"],
                started_at=_time(row["started_at"]),
            )
            for row in rows
        ]

    def arrivals(self, *, since: datetime) -> list[datetime]:
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT started_at FROM workers WHERE started_at >= ? ORDER BY started_at",
                (since.timestamp(),),
            ).fetchall()
        return [datetime.fromtimestamp(row["started_at"], UTC) for row in rows]

    def claim_starts(
        self, decide: Callable[[Sequence[StartRecord]], int], *, window_s: float
    ) -> int:
        now = time.time()
        with self._db.write() as conn:
            conn.execute("DELETE FROM worker_starts WHERE at < ?", (now - window_s,))
            records = [
                StartRecord(at=datetime.fromtimestamp(row["at"], UTC), count=row["count"])
                for row in conn.execute("SELECT at, count FROM worker_starts ORDER BY at")
            ]
            count = decide(records)
            if count > 0:
                conn.execute("INSERT INTO worker_starts (at, count) VALUES (?, ?)", (now, count))
        return max(count, 0)

    def running(self) -> list[int]:
        """PIDs of the started workers that have not exited (not part of the port)."""
        return self._processes.running()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Terminate the workers this launcher started (``cutout up``'s Ctrl-C; not part
        of the port); see :meth:`WorkerProcesses.stop`."""
        self._processes.stop(timeout_s)

    def close(self) -> None:
        """Release the connections (not part of the port)."""
        self._db.close()


def _time(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)
