"""FirestoreLauncher: worker heartbeats and the scale-up lease in Firestore.

Who actually starts workers is a :class:`Starter`: in production
:class:`~cutout.gcp.cloudrun.CloudRunJob` (executions of the Cloud Run worker job); with
``CUTOUT_LAUNCHER=local`` :class:`~cutout.worker_processes.WorkerProcesses` (``python -m
worker`` here: the Admin API has no emulator). Either way, every process that scales or
works reads and writes the same documents:

- heartbeats: ``<workers collection>/<worker id>`` with ``expire_at`` for the
  collection's TTL policy; a goodbye adds ``gone_at``, which a late beat cannot remove,
  and, after a fatal error, ``failed_at`` and ``failure`` (what :meth:`failures` lists);
- lives: ``<workers collection>_lives/<worker id>``, the worker's lasting record
  (:class:`~cutout.worker_life.WorkerLife`), with ``expire_at`` ``job_ttl_days`` after
  it started for that collection's TTL policy (Terraform declares it);
- start records: one document ``<workers collection>_starts/scale`` holding the starts
  of the last window, read and rewritten in a transaction (:meth:`claim_starts`). One
  document, rewritten at most once per scaling decision, is well inside Firestore's
  one-write-per-second-per-document guidance and needs no TTL or index.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.field_path import FieldPath

from cutout.gcp.errors import translated
from cutout.gcp.firestore import check_document_id
from cutout.job import utcnow
from cutout.ports import Launcher, StartRecord, WorkerBeat, WorkerFailure
from cutout.ports.launcher import MAX_LIVES_LIMIT, check_lives_limit
from cutout.worker_life import WorkerLife

#: Heartbeat documents outlive their worker by this much, then the TTL policy drops them.
BEAT_TTL = timedelta(days=1)
STARTS_DOCUMENT = "scale"
#: Worker lives live in the workers collection's name plus this.
LIVES_SUFFIX = "_lives"
#: A burst of uploads contends for the one start document; each loser retries.
CLAIM_ATTEMPTS = 30


class Starter(Protocol):
    def start(self, count: int) -> None:
        """Request ``count`` more workers; return once requested."""


class FirestoreLauncher(Launcher):
    def __init__(
        self,
        client: firestore.Client,
        *,
        collection: str,
        starter: Starter,
        keep_lives: timedelta = timedelta(days=30),
    ) -> None:
        self._db = client
        self._workers = client.collection(collection)
        self._lives = client.collection(f"{collection}{LIVES_SUFFIX}")
        self._keep_lives = keep_lives
        self._starts = client.collection(f"{collection}_starts").document(STARTS_DOCUMENT)
        self._starter = starter
        self._claiming = threading.Lock()

    def start(self, count: int) -> None:
        if count < 0:
            raise ValueError(f"cannot start {count} workers")
        self._starter.start(count)

    def beat(self, beat: WorkerBeat) -> None:
        """Upsert the worker's document; merging leaves a goodbye in place, so a late
        beat from a stopping worker cannot bring it back to life."""
        document: dict[str, Any] = {
            "worker_id": beat.worker_id,
            "at": beat.at,
            "busy": beat.busy,
            "jobs_done": beat.jobs_done,
            "expire_at": beat.at + BEAT_TTL,
        }
        if beat.started_at is not None:
            document["started_at"] = beat.started_at
        with translated(f"recording a heartbeat of worker {beat.worker_id}"):
            self._worker(beat.worker_id).set(document, merge=True)

    def goodbye(self, worker_id: str, *, failure: str | None = None) -> None:
        now = utcnow()
        document: dict[str, Any] = {"gone_at": now, "expire_at": now + BEAT_TTL}
        if failure is not None:
            document |= {"failed_at": now, "failure": failure}
        with translated(f"recording the goodbye of worker {worker_id}"):
            self._worker(worker_id).set(document, merge=True)

    def record_life(self, life: WorkerLife) -> None:
        document = {**life.model_dump(), "expire_at": life.started + self._keep_lives}
        ref = self._lives.document(check_document_id(life.worker_id, "worker id"))
        with translated(f"recording the life of worker {life.worker_id}"):
            ref.set(document)

    def lives(
        self,
        since: datetime,
        until: datetime,
        *,
        limit: int = MAX_LIVES_LIMIT,
        after: WorkerLife | None = None,
    ) -> list[WorkerLife]:
        """One range query on ``started`` (its automatic single-field index)."""
        check_lives_limit(limit)
        query = (
            self._lives.where(filter=FieldFilter("started", ">=", since))
            .where(filter=FieldFilter("started", "<", until))
            .order_by("started")
            .order_by(FieldPath.document_id())
        )
        if after is not None:
            ref = self._lives.document(check_document_id(after.worker_id, "worker id"))
            query = query.start_after({"started": after.started, FieldPath.document_id(): ref})
        query = query.limit(limit)
        with translated("listing worker lives"):
            documents = [s.to_dict() or {} for s in query.stream()]
        return [
            WorkerLife.model_validate({k: v for k, v in d.items() if k != "expire_at"})
            for d in documents
        ]

    def failures(self, *, max_age_s: float) -> list[WorkerFailure]:
        cutoff: datetime = utcnow() - timedelta(seconds=max_age_s)
        query = self._workers.where(filter=FieldFilter("failed_at", ">=", cutoff))
        with translated("listing failed workers"):
            documents = [(s.id, s.to_dict() or {}) for s in query.stream()]
        found = [
            WorkerFailure(worker_id=worker_id, at=d["failed_at"], reason=d.get("failure", ""))
            for worker_id, d in documents
        ]
        return sorted(found, key=lambda f: (f.at, f.worker_id), reverse=True)

    def alive(self, *, max_age_s: float) -> list[WorkerBeat]:
        """Newest beat first."""
        cutoff: datetime = utcnow() - timedelta(seconds=max_age_s)
        query = self._workers.where(filter=FieldFilter("at", ">=", cutoff))
        with translated("listing live workers"):
            documents = [s.to_dict() or {} for s in query.stream()]
        beats = [
            WorkerBeat(
                worker_id=d["worker_id"],
                at=d["at"],
                busy=d["busy"],
                jobs_done=d["jobs_done"],
                started_at=d.get("started_at"),
            )
            for d in documents
            if "gone_at" not in d
        ]
        return sorted(beats, key=lambda b: (b.at, b.worker_id), reverse=True)

    def arrivals(self, *, since: datetime) -> list[datetime]:
        query = self._workers.where(filter=FieldFilter("started_at", ">=", since))
        with translated("listing worker arrivals"):
            found = [(s.to_dict() or {}).get("started_at") for s in query.stream()]
        return sorted(t for t in found if t is not None)

    def claim_starts(
        self, decide: Callable[[Sequence[StartRecord]], int], *, window_s: float
    ) -> int:
        """One transaction over the start document: records older than ``window_s`` are
        dropped from it, ``decide`` sees the rest, a positive answer is appended. A
        concurrent claim makes Firestore retry this one with the other's record in view.
        Threads of one process queue for a lock first: read-write transactions on one
        document abort each other, and Google's emulator can time all of them out."""

        @firestore.transactional
        def claim(transaction: firestore.Transaction) -> int:
            snapshot = self._starts.get(transaction=transaction)
            now = utcnow()
            cutoff = now - timedelta(seconds=window_s)
            stored = (snapshot.to_dict() or {}).get("records", []) if snapshot.exists else []
            records = sorted(
                (StartRecord(at=r["at"], count=r["count"]) for r in stored if r["at"] >= cutoff),
                key=lambda r: r.at,
            )
            count = decide(records)
            if count > 0:
                records.append(StartRecord(at=now, count=count))
            if count > 0 or len(records) != len(stored):
                transaction.set(
                    self._starts,
                    {"records": [{"at": r.at, "count": r.count} for r in records]},
                )
            return max(count, 0)

        with self._claiming, translated("claiming worker starts"):
            return claim(self._db.transaction(max_attempts=CLAIM_ATTEMPTS))

    def _worker(self, worker_id: str) -> firestore.DocumentReference:
        return self._workers.document(check_document_id(worker_id, "worker id"))
