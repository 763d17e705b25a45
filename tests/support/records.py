"""Hand-built job and worker-life records for the metric and cost tests: every time is an
offset in seconds from one fixed instant, so each test can derive its expected numbers
from the offsets it chose."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cutout.job import (
    ClientInfo,
    EffectRequest,
    EffectResult,
    ErrorInfo,
    InputInfo,
    Job,
    JobState,
    Priority,
    Timings,
    WorkerInfo,
)
from cutout.worker_life import WorkerLife

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def at(seconds: float | None) -> datetime | None:
    return None if seconds is None else T0 + timedelta(seconds=seconds)


def job(
    *,
    queued: float = 0.0,
    started: float | None = None,
    finished: float | None = None,
    state: JobState | None = None,
    results: dict[str, float | None] | None = None,
    worker: str | None = None,
    cold: bool = False,
    priority: Priority = Priority.STANDARD,
    key: str = "anonymous",
    error: str | None = None,
    effect_errors: tuple[str, ...] = (),
    attempts: int | None = None,
    ingest_s: float = 0.01,
    input_bytes: int = 2_000_000,
    result_bytes: int = 500_000,
) -> Job:
    """A job submitted at ``queued``; ``results`` maps effect → written offset (``None``
    for a result found in the cache). The state follows from the times unless given."""
    results = results or {}
    if state is None:
        state = JobState.QUEUED if finished is None else JobState.DONE
        state = JobState.RUNNING if started is not None and finished is None else state
    return Job(
        id=f"job-{queued}-{worker}-{key}-{len(results)}",
        state=state,
        priority=priority,
        input=InputInfo(
            key="uploads/x",
            sha256="0" * 64,
            width=10,
            height=10,
            format="JPEG",
            bytes=input_bytes,
        ),
        effects=[EffectRequest(name=n) for n in [*results, *effect_errors]]
        or [EffectRequest(name="color")],
        results={
            name: EffectResult(
                key=f"results/{name}.png",
                format="png",
                width=10,
                height=10,
                bytes=result_bytes,
                cache_key="c",
                written_at=at(written),
            )
            for name, written in results.items()
        },
        effect_errors={n: ErrorInfo(code="effect_failed", message="x") for n in effect_errors},
        attempts=attempts if attempts is not None else int(started is not None),
        error=ErrorInfo(code=error, message="x") if error else None,
        timings=Timings(
            queued_at=at(queued),
            started_at=at(started),
            finished_at=at(finished),
            stages={"ingest": ingest_s},
        ),
        worker=WorkerInfo(id=worker, cold_start=cold) if worker else None,
        client=ClientInfo(key_id=key),
        created_at=at(queued),
    )


def life(
    worker_id: str,
    *,
    started: float,
    ready: float | None = None,
    ended: float | None = None,
    busy: float = 0.0,
    served: int = 0,
    reason: str | None = None,
) -> WorkerLife:
    return WorkerLife(
        worker_id=worker_id,
        started=T0 + timedelta(seconds=started),
        ready=at(ready),
        ended=at(ended),
        busy_seconds=busy,
        jobs_served=served,
        end_reason=reason,
        first_job=at(ready) if served else None,
    )


def sample() -> tuple[list[Job], list[WorkerLife]]:
    """A small mixed hour: a cold start, a warm job, a failure and a cache hit; one worker
    that served them and one that served nothing."""
    lives = [
        life("a", started=0.0, ready=20.0, ended=400.0, busy=30.0, served=3, reason="idle"),
        life("idle", started=100.0, ready=120.0, ended=300.0, reason="idle"),
    ]
    jobs = [
        job(
            queued=5.0,
            started=21.0,
            finished=30.0,
            worker="a",
            cold=True,
            results={"color": 28.0},
            priority=Priority.HIGH,
            key="shop",
        ),
        job(queued=40.0, started=41.0, finished=50.0, worker="a", results={"color": 49.0}),
        job(
            queued=60.0,
            started=61.0,
            finished=62.0,
            worker="a",
            state=JobState.FAILED,
            error="image_corrupt",
            priority=Priority.BATCH,
        ),
        job(queued=70.0, finished=70.0, results={"color": None}, key="shop"),
    ]
    return jobs, lives
