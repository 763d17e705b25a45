"""SqliteStatusStore beyond the contract: compare-and-set across processes and the
indexed columns kept in step with the document."""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from cutout.errors import InvalidInput
from cutout.job import ClientInfo, EffectRequest, InputInfo, Job, JobState
from cutout.local import SqliteStatusStore
from tests.support.local_procs import ROOT, command


def job(job_id: str, **fields: object) -> Job:
    return Job(
        id=job_id,
        input=InputInfo(key="uploads/x", sha256="0" * 64, width=1, height=1, format="png", bytes=1),
        effects=[EffectRequest(name="cutout")],
        **fields,
    )


@pytest.mark.slow
def test_compare_and_set_across_processes(tmp_path: Path) -> None:
    """Four processes race to claim the same 40 jobs and each records one effect on every
    job: each job has exactly one winner, and no process's effect result is lost."""
    db = tmp_path / "s.db"
    store = SqliteStatusStore(db)
    ids = [f"job{i}" for i in range(40)]
    for job_id in ids:
        store.create(job(job_id))
    ready = tmp_path / "ready"
    ready.mkdir()
    outs = [tmp_path / f"out{n}.jsonl" for n in range(4)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            command("claim", str(db), str(o), str(ready), "4", *ids),
            env=env,
        )
        for o in outs
    ]
    for proc in procs:
        assert proc.wait(timeout=120) == 0

    records = [json.loads(line) for o in outs for line in o.read_text().splitlines()]
    winners = Counter(r["job"] for r in records if r["won"])
    assert winners == Counter(ids)
    processes = {r["me"] for r in records}
    assert len(processes) == 4
    for job_id in ids:
        stored = store.get(job_id)
        assert stored.state is JobState.RUNNING
        assert set(stored.results) == processes


def test_a_mutation_may_not_change_the_id(tmp_path: Path) -> None:
    store = SqliteStatusStore(tmp_path / "s.db")
    store.create(job("a"))
    with pytest.raises(ValueError):
        store.transition("a", [JobState.QUEUED], JobState.RUNNING, lambda j: setattr(j, "id", "b"))
    assert store.get("a").state is JobState.QUEUED


def test_a_mutation_that_breaks_the_model_writes_nothing(tmp_path: Path) -> None:
    store = SqliteStatusStore(tmp_path / "s.db")
    created = store.create(job("a"))
    with pytest.raises(ValueError):  # pydantic's ValidationError is a ValueError
        store.transition(
            "a", [JobState.QUEUED], JobState.RUNNING, lambda j: setattr(j, "attempts", "many")
        )
    assert store.get("a") == created


def test_queries_follow_changed_fields(tmp_path: Path) -> None:
    store = SqliteStatusStore(tmp_path / "s.db")
    store.create(job("a", client=ClientInfo(key_id="alice")))

    def hand_over(j: Job) -> None:
        j.client = ClientInfo(key_id="bob", batch_id="b7")

    store.transition("a", [JobState.QUEUED], JobState.RUNNING, hand_over)
    assert store.find(client_key="alice") == []
    assert [j.id for j in store.find(client_key="bob", batch_id="b7")] == ["a"]
    assert store.find(state=JobState.QUEUED) == []


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    store = SqliteStatusStore(tmp_path / "s.db")
    store.create(job("a"))
    with pytest.raises(InvalidInput):
        store.find(limit=0)
    with pytest.raises(ValueError):
        store.record_result("a", "cutout")
