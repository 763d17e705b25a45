"""FirestoreStatusStore: one document per job, id = job id, in one collection.

Documents are the job's JSON form, except ``created_at``, ``updated_at`` and
``expire_at``, stored as Firestore timestamps: ``expire_at`` drives the collection's TTL
policy (only a timestamp field can), and ``created_at`` orders queries.

- :meth:`~FirestoreStatusStore.transition` is a transaction: read, compare the state,
  write. Firestore retries a transaction that lost a race, so ``mutate`` may run more
  than once, each time on the job read afresh by that attempt (the port's rule).
- :meth:`~FirestoreStatusStore.record_result` of a result is one field-path update
  (``results.<effect>``, dropping ``effect_errors.<effect>``): atomic, and it cannot
  overwrite another effect's result. An error is written in a transaction, because it
  must not replace a result that is already there.

What Terraform must create for the queries here (the emulator needs none of it, so tests
cannot prove it): the composite indexes in :data:`COMPOSITE_INDEXES` and a TTL policy on
the fields in :data:`TTL_FIELDS`. Queries filtering on several of state, client and batch
are served by merging the first three indexes, which share the ``created_at`` suffix.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.field_path import FieldPath

from cutout import lifecycle
from cutout.codes import ErrorCode
from cutout.errors import Conflict, InvalidInput, NotFound
from cutout.gcp.errors import translated
from cutout.job import EffectResult, ErrorInfo, Job, JobState, Priority, Rendition, utcnow
from cutout.ports import StatusStore
from cutout.ports.status import JobFilter, Mutation, Position, check_effect_name, check_record

_TIMESTAMPS = ("created_at", "updated_at", "expire_at")
_ACTIVE = [JobState.QUEUED.value, JobState.RUNNING.value]


@dataclass(frozen=True)
class Index:
    """A composite index on the jobs collection: ``(field, "ASCENDING"|"DESCENDING")``."""

    fields: tuple[tuple[str, str], ...]


COMPOSITE_INDEXES = (
    Index((("state", "ASCENDING"), ("created_at", "DESCENDING"))),
    Index((("client.key_id", "ASCENDING"), ("created_at", "DESCENDING"))),
    Index((("client.batch_id", "ASCENDING"), ("created_at", "DESCENDING"))),
    Index((("priority", "ASCENDING"), ("state", "ASCENDING"))),
)
#: ``collection setting name → TTL field`` (jobs and worker heartbeats).
TTL_FIELDS = {"jobs_collection": "expire_at", "workers_collection": "expire_at"}


class FirestoreStatusStore(StatusStore):
    def __init__(self, client: firestore.Client, *, collection: str) -> None:
        self._db = client
        self._jobs = client.collection(collection)

    def create(self, job: Job) -> Job:
        stored = job.model_copy(update={"updated_at": utcnow()})
        with translated(f"creating job {job.id}"):
            try:
                self._ref(job.id).create(to_document(stored))
            except gexc.AlreadyExists as exc:
                raise Conflict(f"job {job.id} already exists") from exc
        return stored

    def get(self, job_id: str) -> Job:
        with translated(f"reading job {job_id}"):
            snapshot = self._ref(job_id).get()
        if not snapshot.exists:
            raise NotFound(f"no job {job_id}")
        return from_document(snapshot.to_dict())

    def transition(
        self,
        job_id: str,
        expected: Iterable[JobState],
        new: JobState,
        mutate: Mutation | None = None,
    ) -> Job:
        allowed = frozenset(expected)
        ref = self._ref(job_id)

        @firestore.transactional
        def apply(transaction: firestore.Transaction) -> Job:
            snapshot = ref.get(transaction=transaction)
            if not snapshot.exists:
                raise NotFound(f"no job {job_id}")
            job = from_document(snapshot.to_dict())
            lifecycle.apply(job, allowed, new, mutate)
            job.updated_at = utcnow()
            transaction.set(ref, to_document(job))
            return job

        with translated(f"moving job {job_id} to {new.value}"):
            return apply(self._db.transaction())

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
        ref = self._ref(job_id)
        result_path = FieldPath("results", effect).to_api_repr()
        error_path = FieldPath("effect_errors", effect).to_api_repr()
        with translated(f"recording {effect} of job {job_id}"):
            if result is not None and rendition is Rendition.DISPLAY:
                display_path = FieldPath("displays", effect).to_api_repr()
                ref.update({display_path: result.model_dump(mode="json"), "updated_at": utcnow()})
            elif result is not None:
                ref.update(
                    {
                        result_path: result.model_dump(mode="json"),
                        error_path: firestore.DELETE_FIELD,
                        "updated_at": utcnow(),
                    }
                )
            else:
                assert error is not None
                self._record_error(ref, effect, error)
        return self.get(job_id)

    def _record_error(
        self, ref: firestore.DocumentReference, effect: str, error: ErrorInfo
    ) -> None:
        """An error never replaces a stored result (a failed redelivery must not hide a
        finished one): read and write in one transaction."""

        @firestore.transactional
        def apply(transaction: firestore.Transaction) -> None:
            snapshot = ref.get(transaction=transaction)
            if not snapshot.exists:
                raise NotFound(f"no job {ref.id}")
            if effect in (snapshot.get("results") or {}):
                return
            transaction.update(
                ref,
                {
                    FieldPath("effect_errors", effect).to_api_repr(): error.model_dump(mode="json"),
                    "updated_at": utcnow(),
                },
            )

        apply(self._db.transaction())

    def _find(self, where: JobFilter, *, limit: int, after: Position | None) -> list[Job]:
        query: Any = self._jobs
        for field, value in (
            ("state", where.state.value if where.state else None),
            ("client.key_id", where.client_key),
            ("client.batch_id", where.batch_id),
        ):
            if value is not None:
                query = query.where(filter=FieldFilter(field, "==", value))
        for bound, operator in ((where.since, ">="), (where.until, "<")):
            if bound is not None:
                query = query.where(filter=FieldFilter("created_at", operator, bound))
        descending = firestore.Query.DESCENDING
        query = query.order_by("created_at", direction=descending).order_by(
            FieldPath.document_id(), direction=descending
        )
        if after is not None:
            query = query.start_after(
                {"created_at": after.created_at, FieldPath.document_id(): self._ref(after.job_id)}
            )
        with translated("querying jobs"):
            return [from_document(s.to_dict()) for s in query.limit(limit).stream()]

    def count_by_state(self, where: JobFilter) -> dict[JobState, int]:
        """One count aggregation per state (the emulator and Firestore answer it from the
        index, without sending the documents)."""
        base: Any = self._jobs
        for field, value in (
            ("client.key_id", where.client_key),
            ("client.batch_id", where.batch_id),
        ):
            if value is not None:
                base = base.where(filter=FieldFilter(field, "==", value))
        counts = {}
        for state in JobState:
            aggregation: Any = base.where(filter=FieldFilter("state", "==", state.value)).count()
            with translated(f"counting {state.value} jobs"):
                result = aggregation.get()
            counts[state] = int(result[0][0].value)
        return counts

    def backlog(self) -> dict[Priority, int]:
        """Queued or running jobs per priority: the queue depth that scaling reads."""
        counts = {}
        for priority in Priority:
            query = self._jobs.where(filter=FieldFilter("priority", "==", priority.value)).where(
                filter=FieldFilter("state", "in", _ACTIVE)
            )
            aggregation: Any = query.count()  # typed as one result; it is a list of lists
            with translated(f"counting {priority.value} jobs"):
                result = aggregation.get()
            counts[priority] = int(result[0][0].value)
        return counts

    def close(self) -> None:
        """Release the client's channel, which the launcher shares (not part of the port;
        processes may simply exit)."""
        self._db.close()

    def _ref(self, job_id: str) -> firestore.DocumentReference:
        return self._jobs.document(check_document_id(job_id, "job id"))


def check_document_id(value: str, what: str) -> str:
    """Firestore document ids: non-empty, no ``/``, not ``.``/``..``/``__…__``, ≤1500 bytes."""
    if (
        not value
        or "/" in value
        or value in {".", ".."}
        or (value.startswith("__") and value.endswith("__"))
        or len(value.encode()) > 1500
    ):
        raise InvalidInput(f"invalid {what} {value!r}", code=ErrorCode.INVALID_ID)
    return value


def to_document(job: Job) -> dict[str, Any]:
    data = job.model_dump(mode="json")
    for field in _TIMESTAMPS:
        data[field] = getattr(job, field)
    return data


def from_document(data: dict[str, Any] | None) -> Job:
    return Job.model_validate(data or {})
