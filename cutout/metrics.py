"""Every operational metric, defined once, over plain records.

``cutout report`` feeds these functions the jobs and worker lives it reads from the
status store; ``cutout plan`` feeds them the jobs and lives its simulation produces. So
each function takes records (:class:`~cutout.job.Job`, :class:`~cutout.worker_life.WorkerLife`),
never a store, and says in its docstring exactly what it counts. Money is in
:mod:`cutout.costs`, on top of these.

Times: a job is *submitted* at ``timings.queued_at`` (``created_at`` when absent). A
worker's open life (no ``ended`` yet) runs until the ``until`` the caller passes (the end
of the report's window, or the end of the simulation).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from cutout.job import Job, JobState, Priority
from cutout.worker_life import WorkerLife

# ---- distributions --------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation between the closest ranks
    (numpy's default method): rank ``q/100 * (n-1)`` in the sorted values."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0-100")
    ordered = sorted(values)
    rank = q / 100 * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Distribution:
    """Count, mean, P50/P95/P99 and maximum of some seconds; all ``None`` when empty."""

    count: int
    mean: float | None
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None

    @classmethod
    def of(cls, values: Iterable[float | None]) -> Distribution:
        """The distribution of the values that are not ``None``."""
        known = [v for v in values if v is not None]
        if not known:
            return cls(0, None, None, None, None, None)
        return cls(
            count=len(known),
            mean=sum(known) / len(known),
            p50=percentile(known, 50),
            p95=percentile(known, 95),
            p99=percentile(known, 99),
            max=max(known),
        )


def share(part: int | float, whole: int | float) -> float | None:
    """``part / whole``, or ``None`` when there is nothing to divide by."""
    return part / whole if whole else None


# ---- selecting records ----------------------------------------------------------------


def submitted_at(job: Job) -> datetime:
    """When the caller submitted the job: ``queued_at``, else ``created_at``."""
    return job.timings.queued_at or job.created_at


def in_window(jobs: Iterable[Job], since: datetime, until: datetime) -> list[Job]:
    """Jobs submitted in ``[since, until)``."""
    return [j for j in jobs if since <= submitted_at(j) < until]


def lives_in_window(
    lives: Iterable[WorkerLife], since: datetime, until: datetime
) -> list[WorkerLife]:
    """Workers whose process started in ``[since, until)``: a worker counts, whole, in the
    window it started in, as a job counts in the window it was submitted in."""
    return [w for w in lives if since <= w.started < until]


def by_tier(jobs: Iterable[Job]) -> dict[Priority, list[Job]]:
    """Jobs grouped by priority tier, every tier present (most urgent first)."""
    groups: dict[Priority, list[Job]] = {tier: [] for tier in Priority}
    for job in jobs:
        groups[job.priority].append(job)
    return groups


# ---- per job --------------------------------------------------------------------------


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if start is not None and end is not None else None


def seconds_to_finish(job: Job) -> float | None:
    """Submitted → finished (``finished_at``), done or failed; ``None`` until then."""
    if not job.state.is_finished:
        return None
    return _seconds(submitted_at(job), job.timings.finished_at)


def seconds_to_done(job: Job) -> float | None:
    """Submitted → done (``finished_at``), for jobs that are done; ``None`` otherwise."""
    return seconds_to_finish(job) if job.state is JobState.DONE else None


def seconds_to_first_result(job: Job) -> float | None:
    """Submitted → the first result written: the earliest result's ``written_at``, else
    (results without a recorded time, e.g. cache hits) ``finished_at``. ``None`` for a job
    with no result."""
    if not job.results:
        return None
    written = [r.written_at for r in job.results.values() if r.written_at is not None]
    return _seconds(submitted_at(job), min(written) if written else job.timings.finished_at)


def queue_wait_seconds(job: Job) -> float | None:
    """Submitted → claimed by a worker (``started_at``; for a redelivered job, its last
    claim, so earlier failed attempts count as waiting); ``None`` if never claimed."""
    return _seconds(submitted_at(job), job.timings.started_at)


def service_seconds(job: Job) -> float | None:
    """Claimed → finished (``started_at`` → ``finished_at``): the time the photo spent on a
    worker, its batch mates' share of the device included. ``None`` unless a worker
    finished it."""
    return _seconds(job.timings.started_at, job.timings.finished_at)


def is_cache_hit(job: Job) -> bool:
    """Answered from the result cache at ingest: done without any worker."""
    return job.state is JobState.DONE and job.worker is None


def is_visible_cold_start(job: Job, lives: Mapping[str, WorkerLife]) -> bool:
    """The job's wait included a worker start: it was in the first batch of the worker
    that served it (``worker.cold_start``) and it was submitted before that worker was
    ready. Without the worker's life record (or its ``ready``), the first-batch flag
    alone decides."""
    if job.worker is None or not job.worker.cold_start:
        return False
    life = lives.get(job.worker.id)
    if life is None or life.ready is None:
        return True
    return submitted_at(job) < life.ready


# ---- over jobs ------------------------------------------------------------------------


def reached_a_worker(jobs: Iterable[Job]) -> list[Job]:
    """Jobs some worker claimed (``started_at`` set)."""
    return [j for j in jobs if j.timings.started_at is not None]


def visible_cold_starts(jobs: Iterable[Job], lives: Iterable[WorkerLife]) -> int:
    """How many jobs waited for a worker to start (:func:`is_visible_cold_start`)."""
    by_id = {w.worker_id: w for w in lives}
    return sum(is_visible_cold_start(j, by_id) for j in jobs)


def cold_start_share(jobs: Sequence[Job], lives: Iterable[WorkerLife]) -> float | None:
    """Visible cold starts per job that reached a worker (cache hits wait for nothing)."""
    served = reached_a_worker(jobs)
    return share(visible_cold_starts(served, lives), len(served))


def cache_hit_rate(jobs: Sequence[Job]) -> float | None:
    """Share of the jobs answered from the cache (:func:`is_cache_hit`)."""
    return share(sum(is_cache_hit(j) for j in jobs), len(jobs))


def processed_photos(jobs: Iterable[Job]) -> int:
    """Photos the callers got results for: jobs that are done (cache hits included)."""
    return sum(j.state is JobState.DONE for j in jobs)


def errors_by_code(jobs: Iterable[Job]) -> dict[str, int]:
    """Failed jobs by ``error.code``, plus each effect error by its code (a done job can
    carry ``effect_failed`` for one of its effects), most frequent first."""
    codes: Counter[str] = Counter()
    for job in jobs:
        if job.state is JobState.FAILED:
            codes[job.error.code if job.error else "unknown"] += 1
        codes.update(e.code for e in job.effect_errors.values())
    return dict(codes.most_common())


def error_share(jobs: Iterable[Job]) -> float | None:
    """Failed jobs per finished job (done or failed)."""
    finished = [j for j in jobs if j.state.is_finished]
    return share(sum(j.state is JobState.FAILED for j in finished), len(finished))


# ---- over workers ---------------------------------------------------------------------


def alive_seconds(life: WorkerLife, until: datetime) -> float:
    """Process start → exit (``until`` while it has not exited): the billed lifetime."""
    end = life.ended or until
    return max(0.0, (end - life.started).total_seconds())


def idle_worker_share(lives: Sequence[WorkerLife]) -> float | None:
    """Share of the workers started that served no job at all."""
    return share(sum(w.jobs_served == 0 for w in lives), len(lives))


def busy_share(lives: Iterable[WorkerLife], until: datetime) -> float | None:
    """Busy seconds over alive seconds, summed over the workers: the instance efficiency
    the old service's analysis tracked."""
    lives = list(lives)
    return share(sum(w.busy_seconds for w in lives), sum(alive_seconds(w, until) for w in lives))


def gpu_seconds(lives: Iterable[WorkerLife], until: datetime, gpus_per_worker: int = 1) -> float:
    """Accelerator-seconds billed: every worker's alive seconds times its GPUs."""
    return gpus_per_worker * sum(alive_seconds(w, until) for w in lives)


# ---- per API key ----------------------------------------------------------------------


@dataclass(frozen=True)
class KeyUsage:
    """What one API key used: jobs submitted, photos processed, jobs failed, cache hits
    and worker seconds (:func:`service_seconds` summed)."""

    jobs: int
    photos: int
    failed: int
    cache_hits: int
    service_seconds: float


def usage_by_key(jobs: Iterable[Job]) -> dict[str, KeyUsage]:
    """:class:`KeyUsage` per ``client.key_id`` (``anonymous`` for callers without a key)."""
    groups: dict[str, list[Job]] = {}
    for job in jobs:
        groups.setdefault(job.client.key_id, []).append(job)
    return {
        key: KeyUsage(
            jobs=len(group),
            photos=processed_photos(group),
            failed=sum(j.state is JobState.FAILED for j in group),
            cache_hits=sum(is_cache_hit(j) for j in group),
            service_seconds=sum(service_seconds(j) or 0.0 for j in group),
        )
        for key, group in sorted(groups.items())
    }
