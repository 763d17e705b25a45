"""JobQueue on SQLite: leases by visibility timeout, shared by any number of processes."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from cutout.job import Priority
from cutout.local.sqlite import Database
from cutout.ports.queue import JobQueue, Message
from cutout.tier_order import TierOrder

#: How often a waiting :meth:`SqliteJobQueue.pull` looks for messages. A message published
#: by another process reaches a waiting puller after at most about this long (measured:
#: median 22-28 ms, max 50-70 ms); each look is one indexed read, so a waiting worker costs
#: about 1% of a core (measured 0.8%).
POLL_INTERVAL_S = 0.05

_TIERS = list(Priority)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    tier INTEGER NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    visible_at REAL NOT NULL,
    lease_id TEXT
);
CREATE INDEX IF NOT EXISTS queue_messages_order ON queue_messages (tier, seq);
CREATE INDEX IF NOT EXISTS queue_messages_visible ON queue_messages (visible_at);
CREATE INDEX IF NOT EXISTS queue_messages_lease ON queue_messages (lease_id);
CREATE INDEX IF NOT EXISTS queue_messages_attempt ON queue_messages (attempt, visible_at);
CREATE TABLE IF NOT EXISTS queue_dead_letters (
    seq INTEGER PRIMARY KEY,
    job_id TEXT NOT NULL,
    tier INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    visible_at REAL NOT NULL,
    lease_id TEXT,
    dead_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_dead_letters_lease ON queue_dead_letters (lease_id)
"""


class SqliteJobQueue(JobQueue):
    """Strict order: ``high`` before ``standard`` before ``batch``, and publish order
    (FIFO) within a tier, except for the batch tier's starvation guard
    (:class:`~cutout.tier_order.TierOrder` with ``guard_every``, counted per queue object
    like each Pub/Sub queue's). A pull leases rows by moving their ``visible_at`` into the
    future under a fresh lease id, so a holder whose lease was taken over (the message was
    delivered again) finds its ack, nack and extend to be no-ops. A holder whose lease ran
    out but whose message nobody has pulled since still owns it: its late ack is honoured.

    Dead-lettering happens when a pull (or :meth:`pull_dead_letters`) finds a message whose
    ``max_attempts``-th lease ran out, and at once on a nack of that delivery. Dead letters
    keep the attempt count they reached and are leased like other messages. Every process
    sharing the file must use the same ``max_attempts``.
    """

    def __init__(self, path: Path, *, lease_s: float, max_attempts: int, guard_every: int) -> None:
        if lease_s <= 0:
            raise ValueError(f"lease_s must be positive, got {lease_s}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self.lease_s = lease_s
        self.max_attempts = max_attempts
        self._order = TierOrder(guard_every)
        self._db = Database(path, _SCHEMA)

    def publish(self, job_id: str, priority: Priority) -> None:
        tier = Priority(priority).rank
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO queue_messages (job_id, tier, visible_at) VALUES (?, ?, ?)",
                (job_id, tier, time.time()),
            )

    def pull(self, max_messages: int, *, wait_s: float) -> list[Message]:
        _check_count(max_messages)
        deadline = time.monotonic() + max(wait_s, 0.0)
        while True:
            if self._has_visible():
                messages = self._lease(max_messages)
                if messages:
                    return messages
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            time.sleep(min(POLL_INTERVAL_S, remaining))

    def ack(self, messages: Sequence[Message]) -> None:
        leases = [(m.lease_id,) for m in messages]
        with self._db.write() as conn:
            conn.executemany("DELETE FROM queue_messages WHERE lease_id = ?", leases)
            conn.executemany("DELETE FROM queue_dead_letters WHERE lease_id = ?", leases)

    def nack(self, message: Message, *, delay_s: float = 0.0) -> None:
        now = time.time()
        visible_at = now + max(delay_s, 0.0)
        with self._db.write() as conn:
            row = conn.execute(
                "SELECT attempt FROM queue_messages WHERE lease_id = ?", (message.lease_id,)
            ).fetchone()
            if row is not None and row["attempt"] >= self.max_attempts:
                _bury(conn, "lease_id = ?", (message.lease_id,), now)
                return
            for table in ("queue_messages", "queue_dead_letters"):
                conn.execute(
                    f"UPDATE {table} SET visible_at = ?, lease_id = NULL WHERE lease_id = ?",
                    (visible_at, message.lease_id),
                )

    def extend(self, messages: Sequence[Message], *, lease_s: float) -> None:
        if lease_s <= 0:
            raise ValueError(f"lease_s must be positive, got {lease_s}")
        visible_at = time.time() + lease_s
        rows = [(visible_at, m.lease_id) for m in messages]
        with self._db.write() as conn:
            for table in ("queue_messages", "queue_dead_letters"):
                conn.executemany(f"UPDATE {table} SET visible_at = ? WHERE lease_id = ?", rows)

    def pull_dead_letters(self, max_messages: int) -> list[Message]:
        _check_count(max_messages)
        now = time.time()
        with self._db.write() as conn:
            self._bury_expired(conn, now)
            rows = conn.execute(
                "SELECT seq, job_id, tier, attempt FROM queue_dead_letters"
                " WHERE visible_at <= ? ORDER BY seq LIMIT ?",
                (now, max_messages),
            ).fetchall()
            return [self._lease_row(conn, "queue_dead_letters", r, r["attempt"], now) for r in rows]

    def depth(self) -> Mapping[Priority, int]:
        """Exact: waiting plus leased messages, excluding those due for the dead-letter
        table (their last lease ran out) but not yet moved there."""
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT tier, COUNT(*) AS n FROM queue_messages"
                " WHERE NOT (visible_at <= ? AND attempt >= ?) GROUP BY tier",
                (time.time(), self.max_attempts),
            ).fetchall()
        counts = {p: 0 for p in Priority}
        for row in rows:
            counts[_TIERS[row["tier"]]] = row["n"]
        return counts

    def close(self) -> None:
        """Release the connections (not part of the port; processes may simply exit)."""
        self._db.close()

    def _has_visible(self) -> bool:
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT 1 FROM queue_messages WHERE visible_at <= ? LIMIT 1", (time.time(),)
            ).fetchone()
        return row is not None

    def _lease(self, max_messages: int) -> list[Message]:
        now = time.time()
        got: list[Message] = []
        with self._db.write() as conn:
            self._bury_expired(conn, now)
            for step in self._order.plan():
                room = max_messages - len(got)
                want = room if step.limit is None else min(step.limit, room)
                if want <= 0:
                    continue
                rows = conn.execute(
                    "SELECT seq, job_id, tier, attempt FROM queue_messages"
                    " WHERE tier = ? AND visible_at <= ? ORDER BY seq LIMIT ?",
                    (step.tier.rank, now, want),
                ).fetchall()
                got += [
                    self._lease_row(conn, "queue_messages", r, r["attempt"] + 1, now) for r in rows
                ]
        self._order.record(m.priority for m in got)
        return got

    def _lease_row(
        self, conn: sqlite3.Connection, table: str, row: sqlite3.Row, attempt: int, now: float
    ) -> Message:
        lease_id = uuid.uuid4().hex
        conn.execute(
            f"UPDATE {table} SET attempt = ?, visible_at = ?, lease_id = ? WHERE seq = ?",
            (attempt, now + self.lease_s, lease_id, row["seq"]),
        )
        return Message(
            job_id=row["job_id"], priority=_TIERS[row["tier"]], attempt=attempt, lease_id=lease_id
        )

    def _bury_expired(self, conn: sqlite3.Connection, now: float) -> None:
        _bury(conn, "visible_at <= ? AND attempt >= ?", (now, self.max_attempts), now)


def _bury(conn: sqlite3.Connection, where: str, params: tuple[object, ...], now: float) -> None:
    """Move the matching messages to the dead-letter table, visible at once, unleased."""
    conn.execute(
        "INSERT INTO queue_dead_letters (seq, job_id, tier, attempt, visible_at, dead_at)"
        f" SELECT seq, job_id, tier, attempt, ?, ? FROM queue_messages WHERE {where}",
        (now, now, *params),
    )
    conn.execute(f"DELETE FROM queue_messages WHERE {where}", params)


def _check_count(max_messages: int) -> None:
    if max_messages < 1:
        raise ValueError(f"max_messages must be at least 1, got {max_messages}")
