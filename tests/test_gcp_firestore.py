"""FirestoreStatusStore on Google's Firestore emulator."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from google.cloud import firestore

from cutout.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from cutout.gcp import open_gcp_backends
from cutout.gcp.firestore import COMPOSITE_INDEXES, FirestoreStatusStore
from cutout.job import (
    ClientInfo,
    EffectRequest,
    EffectResult,
    ErrorInfo,
    InputInfo,
    Job,
    JobState,
    Priority,
    WorkerInfo,
)
from cutout.settings import Settings

pytestmark = pytest.mark.emulator


@pytest.fixture
def store(gcp_settings: Settings) -> FirestoreStatusStore:
    status = open_gcp_backends(gcp_settings).status
    assert isinstance(status, FirestoreStatusStore)
    return status


def make_job(
    job_id: str,
    *,
    priority: Priority = Priority.STANDARD,
    client: str = "shop",
    batch: str | None = None,
    created_at: datetime | None = None,
) -> Job:
    return Job(
        id=job_id,
        priority=priority,
        input=InputInfo(
            key=f"uploads/{job_id}", sha256="0" * 64, width=4, height=3, format="png", bytes=9
        ),
        effects=[EffectRequest(name="cutout"), EffectRequest(name="blur", params={"r": 2})],
        client=ClientInfo(key_id=client, batch_id=batch),
        created_at=created_at or datetime.now(UTC),
        expire_at=datetime.now(UTC) + timedelta(days=30),
    )


def result(effect: str) -> EffectResult:
    return EffectResult(
        key=f"results/{effect}.png", format="png", width=4, height=3, bytes=1, cache_key=effect
    )


def test_create_get_roundtrip_and_ttl_field_is_a_timestamp(
    store: FirestoreStatusStore, gcp_settings: Settings
) -> None:
    job = make_job("j1", batch="b1")
    created = store.create(job)
    assert store.get("j1") == created
    assert created.model_dump(exclude={"updated_at"}) == job.model_dump(exclude={"updated_at"})
    raw = firestore.Client(project=gcp_settings.gcp_project)
    document = raw.collection(gcp_settings.jobs_collection).document("j1").get().to_dict()
    assert document is not None
    assert isinstance(document["expire_at"], datetime)
    assert isinstance(document["created_at"], datetime)
    assert document["client"]["batch_id"] == "b1"


def test_create_twice_conflicts(store: FirestoreStatusStore) -> None:
    store.create(make_job("dup"))
    with pytest.raises(Conflict, match="dup"):
        store.create(make_job("dup"))


def test_missing_and_malformed_ids(store: FirestoreStatusStore) -> None:
    with pytest.raises(NotFound, match="nope"):
        store.get("nope")
    with pytest.raises(NotFound):
        store.transition("nope", [JobState.QUEUED], JobState.RUNNING)
    with pytest.raises(NotFound):
        store.record_result("nope", "cutout", result=result("cutout"))
    for bad in ("", "a/b", "..", "__x__"):
        with pytest.raises(InvalidInput):
            store.get(bad)


def test_transition_applies_mutation_and_checks_expected_state(
    store: FirestoreStatusStore,
) -> None:
    store.create(make_job("t"))

    def claim(job: Job) -> None:
        assert job.state is JobState.QUEUED  # mutate sees the stored state
        job.attempts += 1
        job.worker = WorkerInfo(id="w1")

    running = store.transition("t", [JobState.QUEUED], JobState.RUNNING, claim)
    assert (running.state, running.attempts, running.worker) == (
        JobState.RUNNING,
        1,
        WorkerInfo(id="w1"),
    )
    assert store.get("t") == running
    with pytest.raises(Conflict, match="running"):
        store.transition("t", [JobState.QUEUED], JobState.RUNNING)
    done = store.transition("t", [JobState.RUNNING], JobState.DONE)
    assert done.updated_at >= running.updated_at
    with pytest.raises(IllegalTransition):
        store.transition("t", [JobState.DONE], JobState.RUNNING)


def test_compare_and_set_under_concurrent_claims(store: FirestoreStatusStore) -> None:
    store.create(make_job("race"))
    workers = 4
    start = threading.Barrier(workers)
    outcomes: dict[str, str] = {}

    def claim(worker: str) -> None:
        start.wait()
        try:
            store.transition(
                "race",
                [JobState.QUEUED],
                JobState.RUNNING,
                lambda job: setattr(job, "worker", WorkerInfo(id=worker)),
            )
            outcomes[worker] = "won"
        except Conflict:
            outcomes[worker] = "conflict"

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [w for w, outcome in outcomes.items() if outcome == "won"]
    assert len(winners) == 1, outcomes
    assert sorted(outcomes.values()).count("conflict") == workers - 1
    stored = store.get("race")
    assert stored.worker is not None and stored.worker.id == winners[0]


def test_concurrent_results_are_all_kept(store: FirestoreStatusStore) -> None:
    store.create(make_job("merge"))
    store.transition("merge", [JobState.QUEUED], JobState.RUNNING)
    effects = [f"effect-{i}" for i in range(8)]
    start = threading.Barrier(len(effects) + 1)
    errors: list[BaseException] = []

    def record(effect: str) -> None:
        start.wait()
        try:
            store.record_result("merge", effect, result=result(effect))
        except BaseException as exc:
            errors.append(exc)

    def move() -> None:  # a transaction racing the field updates
        start.wait()
        store.transition(
            "merge", [JobState.RUNNING], JobState.RUNNING, lambda j: setattr(j, "attempts", 5)
        )

    threads = [threading.Thread(target=record, args=(e,)) for e in effects]
    threads.append(threading.Thread(target=move))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    job = store.get("merge")
    assert sorted(job.results) == effects
    assert job.results["effect-3"] == result("effect-3")
    assert job.attempts == 5


def test_effect_errors_are_recorded_beside_results(store: FirestoreStatusStore) -> None:
    store.create(make_job("e"))
    store.record_result("e", "cutout", result=result("cutout"))
    job = store.record_result("e", "blur", error=ErrorInfo(code="bad_params", message="r<0"))
    assert job.effect_errors == {"blur": ErrorInfo(code="bad_params", message="r<0")}
    assert job.pending_effects == []
    # an error never hides a stored result; a result replaces an earlier error
    job = store.record_result("e", "cutout", error=ErrorInfo(code="transient", message="x"))
    assert ("cutout" in job.results, "cutout" in job.effect_errors) == (True, False)
    job = store.record_result("e", "blur", result=result("blur"))
    assert (sorted(job.results), job.effect_errors) == (["blur", "cutout"], {})
    with pytest.raises(ValueError):
        store.record_result("e", "cutout")


def test_find_filters_and_orders_newest_first(store: FirestoreStatusStore) -> None:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    specs = [
        ("a", "shop", "b1", 0),
        ("b", "shop", "b1", 1),
        ("c", "shop", None, 2),
        ("d", "other", "b2", 3),
    ]
    for job_id, client, batch, minutes in specs:
        created_at = base + timedelta(minutes=minutes)
        store.create(make_job(job_id, client=client, batch=batch, created_at=created_at))
    store.transition("b", [JobState.QUEUED], JobState.RUNNING)

    def ids(**filters: object) -> list[str]:
        return [j.id for j in store.find(**filters)]  # type: ignore[arg-type]

    assert ids() == ["d", "c", "b", "a"]
    assert ids(client_key="shop") == ["c", "b", "a"]
    assert ids(batch_id="b1") == ["b", "a"]
    assert ids(state=JobState.QUEUED, client_key="shop") == ["c", "a"]
    assert ids(state=JobState.RUNNING, batch_id="b1", client_key="shop") == ["b"]
    assert ids(limit=2) == ["d", "c"]


def test_backlog_counts_active_jobs_per_priority(gcp_settings: Settings) -> None:
    backends = open_gcp_backends(gcp_settings)
    for i, priority in enumerate([Priority.HIGH, Priority.HIGH, Priority.BATCH, Priority.BATCH]):
        backends.status.create(make_job(f"j{i}", priority=priority))
    backends.status.transition("j0", [JobState.QUEUED], JobState.RUNNING)
    backends.status.transition("j2", [JobState.QUEUED], JobState.FAILED)
    assert backends.queue.depth() == {Priority.HIGH: 2, Priority.STANDARD: 0, Priority.BATCH: 1}


def test_declared_indexes_cover_every_find_filter() -> None:
    indexed = {index.fields[0][0] for index in COMPOSITE_INDEXES}
    assert {"state", "client.key_id", "client.batch_id", "priority"} <= indexed
    sorted_by_created = [i for i in COMPOSITE_INDEXES if i.fields[-1][0] == "created_at"]
    assert all(i.fields[-1][1] == "DESCENDING" for i in sorted_by_created)
