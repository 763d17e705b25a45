"""cutout.metrics over hand-built records: each expected number is worked out here from
the metric's definition and the offsets the test chose, never pasted from a run."""

from __future__ import annotations

import numpy as np
import pytest

from cutout import metrics
from cutout.job import JobState, Priority
from tests.support.records import T0, at, job, life

UNTIL = at(3600.0)
assert UNTIL is not None


@pytest.mark.parametrize("q", [0, 25, 50, 95, 99, 100])
@pytest.mark.parametrize("values", [[3.0], [1.0, 2.0], [5.0, 1.0, 4.0, 2.0, 3.0, 10.0, 0.5]])
def test_percentile_interpolates_between_closest_ranks_like_numpy(
    values: list[float], q: float
) -> None:
    assert metrics.percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_refuses_no_values_and_out_of_range_q() -> None:
    with pytest.raises(ValueError, match="no values"):
        metrics.percentile([], 50)
    with pytest.raises(ValueError, match="outside"):
        metrics.percentile([1.0], 101)


def test_distribution_ignores_unknowns_and_is_empty_without_values() -> None:
    values = [4.0, None, 1.0, 7.0]
    known = [v for v in values if v is not None]
    d = metrics.Distribution.of(values)
    assert d.count == len(known)
    assert d.mean == pytest.approx(sum(known) / len(known))
    assert d.p95 == pytest.approx(float(np.percentile(known, 95)))
    assert d.max == max(known)
    assert metrics.Distribution.of([None]) == metrics.Distribution(0, None, None, None, None, None)


def test_end_to_end_wait_and_service_times_come_from_the_job_timings() -> None:
    queued, started, first, second, finished = 10.0, 14.0, 16.5, 18.0, 19.0
    j = job(
        queued=queued,
        started=started,
        finished=finished,
        worker="w",
        results={"color": second, "blackwhite": first},
    )
    assert metrics.seconds_to_done(j) == pytest.approx(finished - queued)
    assert metrics.seconds_to_first_result(j) == pytest.approx(min(first, second) - queued)
    assert metrics.queue_wait_seconds(j) == pytest.approx(started - queued)
    assert metrics.service_seconds(j) == pytest.approx(finished - started)


def test_first_result_falls_back_to_finished_at_and_failed_jobs_are_not_done() -> None:
    cached = job(queued=5.0, finished=5.0, results={"color": None})
    assert metrics.seconds_to_first_result(cached) == 0.0
    failed = job(queued=0.0, started=1.0, finished=2.0, state=JobState.FAILED, error="x")
    assert metrics.seconds_to_done(failed) is None
    assert metrics.seconds_to_first_result(failed) is None
    waiting = job(queued=0.0)
    assert metrics.queue_wait_seconds(waiting) is None
    assert metrics.service_seconds(waiting) is None


def test_submitted_falls_back_to_created_at() -> None:
    j = job(queued=30.0)
    j.timings.queued_at = None
    assert metrics.submitted_at(j) == j.created_at == at(30.0)


def test_a_cold_start_is_visible_only_if_the_job_waited_for_the_worker_to_be_ready() -> None:
    ready = 40.0
    lives = [life("cold", started=0.0, ready=ready, ended=200.0, busy=30.0, served=3)]
    waited = job(queued=ready - 35, started=ready + 1, finished=ready + 5, worker="cold", cold=True)
    after_warm = job(
        queued=ready + 2, started=ready + 3, finished=ready + 6, worker="cold", cold=True
    )
    later_batch = job(queued=ready - 30, started=ready + 7, finished=ready + 9, worker="cold")
    unknown_life = job(queued=0.0, started=50.0, finished=55.0, worker="gone", cold=True)
    cached = job(queued=1.0, finished=1.0, results={"color": None})
    jobs = [waited, after_warm, later_batch, unknown_life, cached]

    by_id = {w.worker_id: w for w in lives}
    assert [metrics.is_visible_cold_start(j, by_id) for j in jobs] == [
        True,  # first batch, submitted before the worker was ready
        False,  # first batch, but the worker was ready before the job arrived (a warm)
        False,  # submitted before ready, but not in the worker's first batch
        True,  # first batch of a worker without a life record: the flag decides
        False,  # a cache hit never reached a worker
    ]
    expected = 2
    assert metrics.visible_cold_starts(jobs, lives) == expected
    reached = [j for j in jobs if j.timings.started_at is not None]
    assert metrics.cold_start_share(jobs, lives) == pytest.approx(expected / len(reached))


def test_worker_metrics_count_starts_idle_workers_busy_share_and_gpu_seconds() -> None:
    lives = [
        life("a", started=0.0, ready=30.0, ended=600.0, busy=120.0, served=10, reason="idle"),
        life("b", started=100.0, ready=140.0, ended=400.0, busy=0.0, served=0, reason="idle"),
        life("c", started=3000.0, ready=3040.0, ended=None, busy=60.0, served=2),
    ]
    alive = [600.0 - 0.0, 400.0 - 100.0, 3600.0 - 3000.0]  # c is still alive at UNTIL
    assert [metrics.alive_seconds(w, UNTIL) for w in lives] == pytest.approx(alive)
    assert metrics.idle_worker_share(lives) == pytest.approx(1 / 3)
    assert metrics.busy_share(lives, UNTIL) == pytest.approx((120.0 + 0.0 + 60.0) / sum(alive))
    assert metrics.gpu_seconds(lives, UNTIL) == pytest.approx(sum(alive))
    assert metrics.gpu_seconds(lives, UNTIL, gpus_per_worker=2) == pytest.approx(2 * sum(alive))
    assert metrics.busy_share([], UNTIL) is None
    assert metrics.idle_worker_share([]) is None


def test_windows_select_jobs_by_submission_and_workers_by_start() -> None:
    jobs = [job(queued=q) for q in (0.0, 59.9, 60.0, 120.0)]
    since, until = at(0.0), at(60.0)
    assert since is not None and until is not None
    assert [metrics.submitted_at(j) for j in metrics.in_window(jobs, since, until)] == [
        at(0.0),
        at(59.9),
    ]
    lives = [life("a", started=-10.0, ended=30.0), life("b", started=10.0), life("c", started=60.0)]
    assert [w.worker_id for w in metrics.lives_in_window(lives, since, until)] == ["b"]


def test_by_tier_keeps_every_tier_in_urgency_order() -> None:
    jobs = [job(queued=1.0, priority=Priority.BATCH), job(queued=2.0, priority=Priority.HIGH)]
    groups = metrics.by_tier(jobs)
    assert list(groups) == [Priority.HIGH, Priority.STANDARD, Priority.BATCH]
    assert [len(g) for g in groups.values()] == [1, 0, 1]


def test_cache_hits_errors_and_processed_photos() -> None:
    corrupt = job(
        queued=1.0,
        started=2.0,
        finished=3.0,
        worker="w",
        state=JobState.FAILED,
        error="image_corrupt",
    )
    jobs = [
        job(queued=0.0, finished=0.0, results={"color": None}),  # cache hit
        job(queued=1.0, started=2.0, finished=3.0, worker="w", results={"color": 3.0}),
        job(
            queued=1.0,
            started=2.0,
            finished=3.0,
            worker="w",
            results={"color": 3.0},
            effect_errors=("outline",),
        ),
        *[corrupt] * 2,
        job(queued=1.0, state=JobState.FAILED, finished=9.0, error="dead_lettered"),
        job(queued=5.0),  # still queued
    ]
    done = sum(j.state is JobState.DONE for j in jobs)
    failed = sum(j.state is JobState.FAILED for j in jobs)
    assert metrics.cache_hit_rate(jobs) == pytest.approx(1 / len(jobs))
    assert metrics.processed_photos(jobs) == done
    assert metrics.errors_by_code(jobs) == {
        "image_corrupt": 2,
        "dead_lettered": 1,
        "effect_failed": 1,
    }
    assert next(iter(metrics.errors_by_code(jobs))) == "image_corrupt"  # most frequent first
    assert metrics.error_share(jobs) == pytest.approx(failed / (done + failed))
    assert metrics.cache_hit_rate([]) is None


def test_usage_by_key_counts_each_callers_jobs_and_worker_seconds() -> None:
    jobs = [
        job(queued=0.0, started=1.0, finished=4.0, worker="w", key="shop", results={"color": 4.0}),
        job(queued=0.0, started=2.0, finished=7.0, worker="w", key="shop", state=JobState.FAILED),
        job(queued=0.0, finished=0.0, key="shop", results={"color": None}),
        job(queued=0.0, started=3.0, finished=5.0, worker="w", results={"color": 5.0}),
    ]
    usage = metrics.usage_by_key(jobs)
    assert list(usage) == ["anonymous", "shop"]
    assert usage["shop"] == metrics.KeyUsage(
        jobs=3, photos=2, failed=1, cache_hits=1, service_seconds=(4.0 - 1.0) + (7.0 - 2.0)
    )
    assert usage["anonymous"].service_seconds == pytest.approx(5.0 - 3.0)
    assert metrics.submitted_at(jobs[0]) == T0
