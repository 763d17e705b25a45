"""The shared SQLite handle: configuration, transactions, lock timeouts, forks."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import pytest

from cutout.errors import TransientError
from cutout.local.sqlite import Database

SCHEMA = "CREATE TABLE IF NOT EXISTS t (v INTEGER); CREATE INDEX IF NOT EXISTS t_v ON t (v)"


def values(db: Database) -> list[int]:
    with db.read() as conn:
        return [row["v"] for row in conn.execute("SELECT v FROM t ORDER BY v")]


def test_connections_are_configured(tmp_path: Path) -> None:
    db = Database(tmp_path / "deep" / "x.db", SCHEMA, busy_timeout_s=2.5)
    with db.read() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 2500


def test_write_commits_or_rolls_back(tmp_path: Path) -> None:
    db = Database(tmp_path / "x.db", SCHEMA)
    with db.write() as conn:
        conn.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(RuntimeError), db.write() as conn:
        conn.execute("INSERT INTO t VALUES (2)")
        raise RuntimeError("boom")
    assert values(db) == [1]


def test_a_lock_held_too_long_is_a_transient_error(tmp_path: Path) -> None:
    db = Database(tmp_path / "x.db", SCHEMA, busy_timeout_s=0.2)
    other = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(TransientError) as err, db.write():
            pass
        assert err.value.code == "db_busy"
        assert values(db) == []  # readers are not blocked by the writer (WAL)
    finally:
        other.execute("ROLLBACK")
    with db.write() as conn:
        conn.execute("INSERT INTO t VALUES (3)")
    assert values(db) == [3]


def test_many_threads_share_the_pool(tmp_path: Path) -> None:
    db = Database(tmp_path / "x.db", SCHEMA)

    def insert(v: int) -> None:
        with db.write() as conn:
            conn.execute("INSERT INTO t VALUES (?)", (v,))

    threads = [threading.Thread(target=insert, args=(v,)) for v in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert values(db) == list(range(50))


def test_a_forked_child_can_use_the_database(tmp_path: Path) -> None:
    db = Database(tmp_path / "x.db", SCHEMA)
    assert values(db) == []  # leaves an idle connection in the pool
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        try:
            with db.write() as conn:
                conn.execute("INSERT INTO t VALUES (7)")
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert values(db) == [7]


def test_a_closed_database_refuses_use(tmp_path: Path) -> None:
    db = Database(tmp_path / "x.db", SCHEMA)
    db.close()
    with pytest.raises(RuntimeError, match="closed"), db.read():
        pass
