"""StatusStore guarantees, for every adapter family."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest

from cutout.backends import Backends
from cutout.errors import Conflict, IllegalTransition, InvalidInput, NotFound, TransientError
from cutout.job import (
    ClientInfo,
    EffectRequest,
    EffectResult,
    ErrorInfo,
    Job,
    JobState,
    Rendition,
    WorkerInfo,
    utcnow,
)
from cutout.ports import StatusStore
from cutout.ports.status import MAX_FIND_LIMIT, JobFilter

MakeJob = Callable[..., Job]


@pytest.fixture
def status(backends: Backends) -> StatusStore:
    return backends.status


def result(name: str) -> EffectResult:
    return EffectResult(
        key=f"results/{name}.png", format="png", width=4, height=3, bytes=99, cache_key=name
    )


def ago(seconds: float) -> datetime:
    """A past instant in whole milliseconds (what every store keeps exactly)."""
    moment = utcnow() - timedelta(seconds=seconds)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def test_create_and_get_round_trip(status: StatusStore, make_job: MakeJob) -> None:
    job = make_job(client=ClientInfo(key_id="k1", batch_id="b1", idempotency_key="i1"))
    before = utcnow()
    stored = status.create(job)
    assert stored.updated_at >= before
    fetched = status.get(job.id)
    assert fetched == stored
    assert fetched.model_dump(exclude={"updated_at"}) == job.model_dump(exclude={"updated_at"})


def test_create_conflicts_on_a_taken_id(status: StatusStore, make_job: MakeJob) -> None:
    job = status.create(make_job())
    with pytest.raises(Conflict):
        status.create(make_job(id=job.id, priority="high"))
    assert status.get(job.id).priority == job.priority


def test_concurrent_creates_of_one_id_have_one_winner(
    status: StatusStore, make_job: MakeJob
) -> None:
    job_id = "idem-" + "0" * 27
    start = threading.Barrier(6)

    def create(i: int) -> bool:
        start.wait()
        try:
            status.create(make_job(id=job_id, attempts=i))
        except Conflict:
            return False
        return True

    with ThreadPoolExecutor(6) as pool:
        won = list(pool.map(create, range(6)))
    assert won.count(True) == 1
    assert status.get(job_id).attempts == won.index(True)


def test_missing_jobs(status: StatusStore) -> None:
    with pytest.raises(NotFound):
        status.get("no-such-job")
    with pytest.raises(NotFound):
        status.transition("no-such-job", [JobState.QUEUED], JobState.RUNNING)
    with pytest.raises(NotFound):
        status.record_result("no-such-job", "cutout", result("cutout"))


def test_transition_applies_the_mutation(status: StatusStore, make_job: MakeJob) -> None:
    job = status.create(make_job())

    def claim(j: Job) -> None:
        assert j.state is JobState.QUEUED
        j.attempts += 1
        j.worker = WorkerInfo(id="w1", cold_start=True)

    running = status.transition(job.id, [JobState.QUEUED], JobState.RUNNING, claim)
    assert running.state is JobState.RUNNING
    assert running.updated_at >= job.updated_at
    stored = status.get(job.id)
    assert stored == running
    assert (stored.attempts, stored.worker) == (1, WorkerInfo(id="w1", cold_start=True))


def test_transition_conflicts_when_state_moved(status: StatusStore, make_job: MakeJob) -> None:
    job = status.create(make_job())
    status.transition(job.id, [JobState.QUEUED], JobState.RUNNING)
    with pytest.raises(Conflict) as err:
        status.transition(job.id, [JobState.QUEUED], JobState.FAILED)
    assert not isinstance(err.value, IllegalTransition)
    assert status.get(job.id).state is JobState.RUNNING


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        ([], JobState.DONE),
        ([JobState.RUNNING, JobState.DONE], JobState.RUNNING),
        ([JobState.FAILED], JobState.QUEUED),
        ([JobState.RUNNING, JobState.FAILED], JobState.DONE),
    ],
)
def test_illegal_transitions_are_refused(
    status: StatusStore, make_job: MakeJob, path: list[JobState], illegal: JobState
) -> None:
    job = status.create(make_job())
    current = JobState.QUEUED
    for state in path:
        status.transition(job.id, [current], state)
        current = state
    with pytest.raises(IllegalTransition):
        status.transition(job.id, [current], illegal)
    assert status.get(job.id).state is current


def test_a_failing_mutation_changes_nothing(status: StatusStore, make_job: MakeJob) -> None:
    job = status.create(make_job())

    def broken(j: Job) -> None:
        j.attempts = 7
        raise RuntimeError("worker bug")

    with pytest.raises(RuntimeError):
        status.transition(job.id, [JobState.QUEUED], JobState.RUNNING, broken)
    assert status.get(job.id) == job


def test_compare_and_set_race_has_one_winner(status: StatusStore, make_job: MakeJob) -> None:
    for _ in range(5):
        job = status.create(make_job())
        start = threading.Barrier(2)

        def claim(worker: str, job_id: str = job.id, start: threading.Barrier = start) -> str:
            start.wait()
            try:
                status.transition(
                    job_id,
                    [JobState.QUEUED],
                    JobState.RUNNING,
                    lambda j: setattr(j, "worker", WorkerInfo(id=worker)),
                )
            except Conflict:
                return "lost"
            return worker

        with ThreadPoolExecutor(2) as pool:
            outcome = list(pool.map(claim, ["w1", "w2"]))
        winners = [o for o in outcome if o != "lost"]
        assert len(winners) == 1
        stored = status.get(job.id)
        assert stored.worker is not None and stored.worker.id == winners[0]


def test_record_result_merges_concurrent_writers(status: StatusStore, make_job: MakeJob) -> None:
    names = [f"effect{i}" for i in range(8)]
    job = status.create(make_job(effects=[EffectRequest(name=n) for n in names]))
    start = threading.Barrier(len(names))

    def record(name: str) -> None:
        start.wait()
        status.record_result(job.id, name, result(name))

    with ThreadPoolExecutor(len(names)) as pool:
        list(pool.map(record, names))
    stored = status.get(job.id)
    assert stored.results == {n: result(n) for n in names}
    assert stored.pending_effects == []


def test_record_result_and_errors(status: StatusStore, make_job: MakeJob) -> None:
    job = status.create(
        make_job(effects=[EffectRequest(name="cutout"), EffectRequest(name="sketch")])
    )
    oops = ErrorInfo(code="effect_failed", message="sketch broke")
    after_error = status.record_result(job.id, "sketch", error=oops)
    assert after_error.effect_errors == {"sketch": oops}
    assert [e.name for e in after_error.pending_effects] == ["cutout"]
    after_result = status.record_result(job.id, "cutout", result("cutout"))
    assert after_result.results == {"cutout": result("cutout")}
    assert after_result.updated_at >= after_error.updated_at
    retried = status.record_result(job.id, "sketch", result("sketch"))
    assert retried.effect_errors == {}
    kept = status.record_result(job.id, "sketch", error=oops)
    assert kept.results["sketch"] == result("sketch")
    assert kept.effect_errors == {}
    assert status.get(job.id) == kept
    with pytest.raises(ValueError):
        status.record_result(job.id, "cutout")


def test_a_display_rendition_is_recorded_apart_from_the_full_result(
    status: StatusStore, make_job: MakeJob
) -> None:
    job = status.create(make_job(effects=[EffectRequest(name="cutout")]))
    shown = status.record_result(job.id, "cutout", result("small"), rendition=Rendition.DISPLAY)
    assert shown.displays == {"cutout": result("small")}
    assert shown.results == {} and [e.name for e in shown.pending_effects] == ["cutout"]
    done = status.record_result(job.id, "cutout", result("cutout"))
    assert done.displays == {"cutout": result("small")}
    assert done.results == {"cutout": result("cutout")} and done.pending_effects == []
    assert status.get(job.id) == done
    oops = ErrorInfo(code="effect_failed", message="no")
    with pytest.raises(ValueError):
        status.record_result(job.id, "cutout", error=oops, rendition=Rendition.DISPLAY)


def test_record_result_keeps_the_state(status: StatusStore, make_job: MakeJob) -> None:
    job = status.create(make_job())
    status.transition(job.id, [JobState.QUEUED], JobState.RUNNING)
    stored = status.record_result(job.id, "cutout", result("cutout"))
    assert stored.state is JobState.RUNNING
    done = status.transition(job.id, [JobState.RUNNING], JobState.DONE)
    assert done.results == {"cutout": result("cutout")}


def test_find_by_state_client_and_batch(status: StatusStore, make_job: MakeJob) -> None:
    specs = [  # (age in seconds, client, batch, final state)
        (50, "alice", "nightly", JobState.QUEUED),
        (40, "alice", None, JobState.DONE),
        (30, "bob", "nightly", JobState.DONE),
        (20, "alice", "nightly", JobState.DONE),
        (10, "bob", None, JobState.QUEUED),
    ]
    ids = {}
    for age, client, batch, state in reversed(specs):  # stored out of age order
        job = status.create(
            make_job(created_at=ago(age), client=ClientInfo(key_id=client, batch_id=batch))
        )
        if state is JobState.DONE:
            status.transition(job.id, [JobState.QUEUED], JobState.RUNNING)
            status.transition(job.id, [JobState.RUNNING], JobState.DONE)
        ids[age] = job.id

    def found(**filters: object) -> list[str]:
        return [j.id for j in status.find(**filters)]  # type: ignore[arg-type]

    assert found() == [ids[a] for a in (10, 20, 30, 40, 50)]
    assert found(client_key="alice") == [ids[20], ids[40], ids[50]]
    assert found(batch_id="nightly") == [ids[20], ids[30], ids[50]]
    assert found(state=JobState.DONE) == [ids[20], ids[30], ids[40]]
    assert found(state=JobState.QUEUED, client_key="bob") == [ids[10]]
    assert found(state=JobState.DONE, client_key="alice", batch_id="nightly") == [ids[20]]
    assert found(client_key="alice", limit=2) == [ids[20], ids[40]]
    assert found(state=JobState.RUNNING) == []
    assert found(client_key="carol") == []
    jobs = status.find(batch_id="nightly", limit=1)
    assert jobs == [status.get(ids[20])]


def test_counts_by_state_per_client_and_batch(status: StatusStore, make_job: MakeJob) -> None:
    """A batch's progress is counted by the store (SQLite COUNT, Firestore count
    aggregation), for the owner's jobs of the batch only."""
    for client, batch, state in [
        ("alice", "nightly", JobState.QUEUED),
        ("alice", "nightly", JobState.QUEUED),
        ("alice", "nightly", JobState.RUNNING),
        ("alice", "nightly", JobState.DONE),
        ("alice", None, JobState.QUEUED),
        ("bob", "nightly", JobState.QUEUED),
    ]:
        job = status.create(make_job(client=ClientInfo(key_id=client, batch_id=batch)))
        if state is not JobState.QUEUED:
            status.transition(job.id, [JobState.QUEUED], JobState.RUNNING)
        if state is JobState.DONE:
            status.transition(job.id, [JobState.RUNNING], JobState.DONE)
    counts = status.count_by_state(JobFilter(client_key="alice", batch_id="nightly"))
    assert counts == {JobState.QUEUED: 2, JobState.RUNNING: 1, JobState.DONE: 1, JobState.FAILED: 0}
    assert sum(status.count_by_state(JobFilter(batch_id="nightly")).values()) == 5
    assert sum(status.count_by_state(JobFilter(client_key="carol")).values()) == 0


def test_find_limit_has_the_same_bounds_everywhere(status: StatusStore, make_job: MakeJob) -> None:
    status.create(make_job())
    for bad in (0, -1, MAX_FIND_LIMIT + 1):
        with pytest.raises(InvalidInput) as err:
            status.find(limit=bad)
        assert err.value.code == "invalid_query"
    assert len(status.find(limit=MAX_FIND_LIMIT)) == 1
    assert len(status.find_page(JobFilter(), limit=1).jobs) == 1


def test_pages_visit_every_match_once_newest_first(status: StatusStore, make_job: MakeJob) -> None:
    """Seven matches (two pairs created at the same instant: ties go by id, descending)
    and two that do not match, paged three at a time."""
    ages = [70, 60, 60, 50, 40, 40, 30]
    mine = [
        status.create(make_job(created_at=ago(age), client=ClientInfo(key_id="pager")))
        for age in ages
    ]
    for age in (55, 35):
        status.create(make_job(created_at=ago(age), client=ClientInfo(key_id="other")))
    expected = [j.id for j in sorted(mine, key=lambda j: (j.created_at, j.id), reverse=True)]

    where = JobFilter(client_key="pager")
    seen: list[list[str]] = []
    cursor = None
    for _ in range(5):
        page = status.find_page(where, limit=3, cursor=cursor)
        seen.append([j.id for j in page.jobs])
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [expected[0:3], expected[3:6], expected[6:]]
    assert status.find(client_key="pager", limit=7) == [status.get(i) for i in expected]
    exact = status.find_page(where, limit=7)
    assert exact.next_cursor is None  # no empty last page when the limit fits exactly


def test_a_time_window_pages_through_the_jobs_created_in_it(
    status: StatusStore, make_job: MakeJob
) -> None:
    """``[since, until)`` on ``created_at``, paged, and combined with an equality filter."""
    ages = [500, 400, 300, 200, 100]
    jobs = [status.create(make_job(created_at=ago(age))) for age in ages]
    where = JobFilter(since=jobs[1].created_at, until=jobs[4].created_at)
    first = status.find_page(where, limit=2)
    assert [j.id for j in first.jobs] == [jobs[3].id, jobs[2].id]
    rest = status.find_page(where, limit=2, cursor=first.next_cursor)
    assert [j.id for j in rest.jobs] == [jobs[1].id] and rest.next_cursor is None
    queued = JobFilter(state=JobState.QUEUED, since=jobs[3].created_at)
    assert [j.id for j in status.find_page(queued).jobs] == [jobs[4].id, jobs[3].id]


def test_a_bad_cursor_is_invalid_input(status: StatusStore) -> None:
    for bad in ("not a cursor", "e30", "W10"):
        with pytest.raises(InvalidInput) as err:
            status.find_page(JobFilter(), cursor=bad)
        assert err.value.code == "invalid_query"


def test_empty_effect_names_are_refused(status: StatusStore, make_job: MakeJob) -> None:
    job = status.create(make_job())
    with pytest.raises(InvalidInput):
        status.record_result(job.id, "", result(""))
    with pytest.raises(InvalidInput):
        status.record_result(job.id, "", error=ErrorInfo(code="effect_failed", message="x"))
    assert status.get(job.id) == job


def test_a_mutation_that_runs_again_starts_from_the_stored_job(
    status: StatusStore, make_job: MakeJob
) -> None:
    """Four racing re-claims (running → running), each adding one attempt. Whether the
    adapter runs a mutation once (SQLite) or again after a lost race (Firestore), every
    run starts from the stored job, so the count ends at exactly the number of
    transitions that succeeded. (Under this much contention Firestore's emulator may give
    one up as TransientError: then it wrote nothing.)"""
    job = status.create(make_job())
    status.transition(job.id, [JobState.QUEUED], JobState.RUNNING)
    runs: list[int] = []
    start = threading.Barrier(4)

    def add_attempt(j: Job) -> None:
        runs.append(j.attempts)
        j.attempts += 1

    def reclaim(_: int) -> bool:
        start.wait()
        try:
            status.transition(job.id, [JobState.RUNNING], JobState.RUNNING, add_attempt)
        except TransientError:
            return False
        return True

    with ThreadPoolExecutor(4) as pool:
        succeeded = sum(pool.map(reclaim, range(4)))
    assert succeeded >= 1
    assert status.get(job.id).attempts == succeeded
    assert len(runs) >= succeeded
    assert set(range(succeeded)) <= set(runs)  # each committed run saw its predecessor's
