"""The one place that opens SQLite connections for the local adapters.

Several processes (ingest, workers, the CLI) and many threads share one database file, so
every connection is configured the same way: WAL (readers never block the writer),
``busy_timeout`` (a writer waits for the lock instead of failing at once),
``synchronous=NORMAL`` (durable across process crashes; a power cut may lose the last
commits but never corrupts the file). Read-modify-write goes through :meth:`Database.write`,
which holds ``BEGIN IMMEDIATE`` so two writers can never both read the old value.

Connections come from a small pool rather than one per thread: ingest's server may start a
thread per request, and a connection per dead thread would leak. A pool made before a
``fork`` is discarded in the child (SQLite connections must not cross a fork).
WAL needs a local filesystem: do not put the data directory on NFS or SMB.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cutout.codes import ErrorCode
from cutout.errors import TransientError

log = logging.getLogger(__name__)

#: How long a writer waits for another process's write lock before giving up.
BUSY_TIMEOUT_S = 10.0
_MAX_IDLE = 8


class Database:
    """A pooled handle on one SQLite file whose ``schema`` (idempotent DDL) it creates."""

    def __init__(self, path: Path, schema: str, *, busy_timeout_s: float = BUSY_TIMEOUT_S):
        self.path = Path(path)
        self._busy_ms = int(busy_timeout_s * 1000)
        self._lock = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._pid = os.getpid()
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.write() as conn:
            for statement in schema.split(";"):
                if statement.strip():
                    conn.execute(statement)

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode: each statement sees one consistent snapshot."""
        conn = self._acquire()
        try:
            yield conn
        finally:
            self._release(conn)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """An immediate transaction: committed if the block returns, rolled back if it
        raises. A lock still held by another process after the busy timeout raises
        :class:`~cutout.errors.TransientError`."""
        conn = self._acquire()
        try:
            _execute_busy(conn, "BEGIN IMMEDIATE", self.path)
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            _execute_busy(conn, "COMMIT", self.path)
        finally:
            self._release(conn)

    def close(self) -> None:
        """Close idle connections; connections in use close when they are given back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _acquire(self) -> sqlite3.Connection:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"database {self.path} is closed")
            if self._pid != os.getpid():
                self._idle, self._pid = [], os.getpid()
            if self._idle:
                return self._idle.pop()
        return self._connect()

    def _release(self, conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            conn.rollback()
        with self._lock:
            if not self._closed and self._pid == os.getpid() and len(self._idle) < _MAX_IDLE:
                self._idle.append(conn)
                return
        conn.close()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
        _execute_busy(conn, "PRAGMA journal_mode = WAL", self.path)
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn


def _execute_busy(conn: sqlite3.Connection, sql: str, path: Path) -> None:
    try:
        conn.execute(sql)
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            log.warning("sqlite %s: %s still locked after the busy timeout", path, sql)
            raise TransientError(
                f"database {path} is busy ({exc})", code=ErrorCode.DB_BUSY
            ) from exc
        raise
