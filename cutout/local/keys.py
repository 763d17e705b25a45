"""KeyStore on SQLite: one row of record JSON per key, in the same database file as the
jobs (every local process opening the data directory sees the same keys)."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

from cutout.codes import ErrorCode
from cutout.errors import Conflict, NotFound
from cutout.job import utcnow
from cutout.keys import KeyRecord
from cutout.local.sqlite import Database
from cutout.ports.keys import KeyStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    revoked INTEGER NOT NULL,
    doc TEXT NOT NULL
)
"""


class SqliteKeyStore(KeyStore):
    """Revocation is a read-modify-write in one ``BEGIN IMMEDIATE`` transaction, so two
    revocations racing keep the first one's time."""

    def __init__(self, path: Path) -> None:
        self._db = Database(path, _SCHEMA)

    def create(self, record: KeyRecord) -> KeyRecord:
        with self._db.write() as conn:
            inserted = conn.execute(
                "INSERT INTO api_keys (created_at, revoked, doc, id) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (id) DO NOTHING",
                _columns(record),
            ).rowcount
        if not inserted:
            raise Conflict(f"key {record.id} already exists")
        return record

    def get(self, key_id: str) -> KeyRecord:
        with self._db.read() as conn:
            return _load(conn, key_id)

    def revoke(self, key_id: str, *, at: datetime | None = None) -> KeyRecord:
        with self._db.write() as conn:
            record = _load(conn, key_id)
            if record.revoked:
                return record
            record = record.model_copy(update={"revoked_at": at or utcnow()})
            conn.execute(
                "UPDATE api_keys SET created_at = ?, revoked = ?, doc = ? WHERE id = ?",
                _columns(record),
            )
        return record

    def list_keys(self, *, include_revoked: bool = True) -> list[KeyRecord]:
        where = "" if include_revoked else " WHERE revoked = 0"
        with self._db.read() as conn:
            rows = conn.execute(
                f"SELECT doc FROM api_keys{where} ORDER BY created_at, rowid"
            ).fetchall()
        return [KeyRecord.model_validate_json(row["doc"]) for row in rows]

    def close(self) -> None:
        """Release the connections (not part of the port; processes may simply exit)."""
        self._db.close()


def _load(conn: sqlite3.Connection, key_id: str) -> KeyRecord:
    row = conn.execute("SELECT doc FROM api_keys WHERE id = ?", (key_id,)).fetchone()
    if row is None:
        raise NotFound(f"no key {key_id}", code=ErrorCode.KEY_NOT_FOUND)
    return KeyRecord.model_validate_json(row["doc"])


def _columns(record: KeyRecord) -> tuple[object, ...]:
    """The indexed columns, the document and the id, in the order the SQL above uses."""
    return (record.created_at.timestamp(), int(record.revoked), record.model_dump_json(), record.id)
