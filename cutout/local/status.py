"""StatusStore on SQLite: one row of job JSON per job, with indexed copies of the fields
that queries filter and sort on."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

from cutout import lifecycle
from cutout.errors import Conflict, NotFound
from cutout.job import EffectResult, ErrorInfo, Job, JobState, Rendition, utcnow
from cutout.local.sqlite import Database
from cutout.ports.status import (
    JobFilter,
    Mutation,
    Position,
    StatusStore,
    check_effect_name,
    check_record,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    client_key TEXT NOT NULL,
    batch_id TEXT,
    created_at REAL NOT NULL,
    doc TEXT NOT NULL,
    expire_at REAL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, created_at);
CREATE INDEX IF NOT EXISTS jobs_client ON jobs (client_key, created_at);
CREATE INDEX IF NOT EXISTS jobs_batch ON jobs (batch_id, created_at)
"""
#: Databases made before retention lack ``expire_at``: add it, filled from the documents.
_MIGRATE_EXPIRY = (
    "ALTER TABLE jobs ADD COLUMN expire_at REAL",
    "UPDATE jobs SET expire_at ="
    " (julianday(json_extract(doc, '$.expire_at')) - 2440587.5) * 86400.0"
    " WHERE json_extract(doc, '$.expire_at') IS NOT NULL",
)
_EXPIRY_INDEX = "CREATE INDEX IF NOT EXISTS jobs_expiry ON jobs (expire_at)"
#: Most jobs one :meth:`SqliteStatusStore.sweep` deletes (bounded work per sweep).
SWEEP_BATCH = 500


class SqliteStatusStore(StatusStore):
    """Every change is a read-modify-write inside one ``BEGIN IMMEDIATE`` transaction, so
    compare-and-set and result merges are atomic across threads and processes; a
    transition's mutation runs once, on a copy read inside the transaction. Expired jobs
    stay until :meth:`sweep` deletes them (``cutout up`` runs it periodically)."""

    def __init__(self, path: Path) -> None:
        self._db = Database(path, _SCHEMA)
        with self._db.write() as conn:
            columns = {row["name"] for row in conn.execute("PRAGMA table_info(jobs)")}
            if "expire_at" not in columns:
                for statement in _MIGRATE_EXPIRY:
                    conn.execute(statement)
            conn.execute(_EXPIRY_INDEX)

    def create(self, job: Job) -> Job:
        stored = _stamped(job)
        try:
            with self._db.write() as conn:
                conn.execute(
                    "INSERT INTO jobs (state, client_key, batch_id, created_at, expire_at, doc, id)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    _columns(stored),
                )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"job {job.id} already exists") from exc
        return stored

    def get(self, job_id: str) -> Job:
        with self._db.read() as conn:
            return _load(conn, job_id)

    def transition(
        self,
        job_id: str,
        expected: Iterable[JobState],
        new: JobState,
        mutate: Mutation | None = None,
    ) -> Job:
        allowed = frozenset(expected)
        return self._update(job_id, lambda job: lifecycle.apply(job, allowed, new, mutate))

    def record_result(
        self,
        job_id: str,
        effect: str,
        result: EffectResult | None = None,
        error: ErrorInfo | None = None,
        *,
        rendition: Rendition = Rendition.FULL,
    ) -> Job:
        check_record(result, error, rendition)
        check_effect_name(effect)

        def change(job: Job) -> None:
            if result is not None and rendition is Rendition.DISPLAY:
                job.displays[effect] = result
            elif result is not None:
                job.results[effect] = result
                job.effect_errors.pop(effect, None)
            elif error is not None and effect not in job.results:
                job.effect_errors[effect] = error

        return self._update(job_id, change)

    def _find(self, where: JobFilter, *, limit: int, after: Position | None) -> list[Job]:
        filters = {"state": where.state, "client_key": where.client_key, "batch_id": where.batch_id}
        given = {f"{column} = ?": str(v) for column, v in filters.items() if v is not None}
        params: list[object] = list(given.values())
        conditions = list(given)
        for bound, condition in ((where.since, "created_at >= ?"), (where.until, "created_at < ?")):
            if bound is not None:
                conditions.append(condition)
                params.append(bound.timestamp())
        if after is not None:
            conditions.append("(created_at < ? OR (created_at = ? AND id < ?))")
            moment = after.created_at.timestamp()
            params += [moment, moment, after.job_id]
        sql = (
            f"SELECT doc FROM jobs WHERE {' AND '.join(conditions) or '1'}"
            " ORDER BY created_at DESC, id DESC LIMIT ?"
        )
        with self._db.read() as conn:
            rows = conn.execute(sql, (*params, limit)).fetchall()
        return [Job.model_validate_json(row["doc"]) for row in rows]

    def count_by_state(self, where: JobFilter) -> dict[JobState, int]:
        filters = {"client_key": where.client_key, "batch_id": where.batch_id}
        given = {f"{column} = ?": str(v) for column, v in filters.items() if v is not None}
        sql = (
            f"SELECT state, COUNT(*) AS n FROM jobs WHERE {' AND '.join(given) or '1'}"
            " GROUP BY state"
        )
        counts = dict.fromkeys(JobState, 0)
        with self._db.read() as conn:
            for row in conn.execute(sql, tuple(given.values())):
                counts[JobState(row["state"])] = int(row["n"])
        return counts

    def sweep(self, now: datetime) -> int:
        """Delete at most :data:`SWEEP_BATCH` jobs whose ``expire_at`` is before ``now``
        (what Firestore's TTL policy does on GCP); returns how many. Not part of the port."""
        with self._db.write() as conn:
            deleted = conn.execute(
                "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE expire_at < ?"
                " ORDER BY expire_at LIMIT ?)",
                (now.timestamp(), SWEEP_BATCH),
            ).rowcount
        return int(deleted)

    def close(self) -> None:
        """Release the connections (not part of the port; processes may simply exit)."""
        self._db.close()

    def _update(self, job_id: str, change: Callable[[Job], None]) -> Job:
        with self._db.write() as conn:
            job = _load(conn, job_id)
            change(job)
            if job.id != job_id:
                raise ValueError(f"job {job_id}: a change may not alter the id ({job.id})")
            stored = _stamped(job)
            conn.execute(
                "UPDATE jobs SET state = ?, client_key = ?, batch_id = ?, created_at = ?,"
                " expire_at = ?, doc = ? WHERE id = ?",
                _columns(stored),
            )
        return stored


def _load(conn: sqlite3.Connection, job_id: str) -> Job:
    row = conn.execute("SELECT doc FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if row is None:
        raise NotFound(f"no job {job_id}")
    return Job.model_validate_json(row["doc"])


def _columns(job: Job) -> tuple[object, ...]:
    """The indexed columns, the document and the id, in the order the SQL above uses."""
    return (
        job.state.value,
        job.client.key_id,
        job.client.batch_id,
        job.created_at.timestamp(),
        job.expire_at.timestamp() if job.expire_at else None,
        job.model_dump_json(),
        job.id,
    )


def _stamped(job: Job) -> Job:
    """A validated copy with ``updated_at`` set: a mutation that broke the model fails
    here, before anything is written."""
    data = job.model_dump(warnings=False)
    data["updated_at"] = utcnow()
    return Job.model_validate(data)
