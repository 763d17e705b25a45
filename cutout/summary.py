"""Every metric of :mod:`cutout.metrics` and :mod:`cutout.costs` for one set of records,
as one JSON-ready dict: what ``cutout report`` prints for real jobs and ``cutout plan``
for simulated ones, so both show the same keys computed the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from cutout import metrics
from cutout.costs import cost_by_key, per_thousand, total_cost_usd
from cutout.job import Job
from cutout.prices import PriceTable
from cutout.worker_life import WorkerLife


def latencies(jobs: list[Job], lives: list[WorkerLife]) -> dict[str, Any]:
    """The per-job times and cold starts of some jobs (all of them, or one tier's)."""
    return {
        "jobs": len(jobs),
        "to_first_result_s": asdict(
            metrics.Distribution.of(metrics.seconds_to_first_result(j) for j in jobs)
        ),
        "to_done_s": asdict(metrics.Distribution.of(metrics.seconds_to_done(j) for j in jobs)),
        "queue_wait_s": asdict(
            metrics.Distribution.of(metrics.queue_wait_seconds(j) for j in jobs)
        ),
        "service_s": asdict(metrics.Distribution.of(metrics.service_seconds(j) for j in jobs)),
        "cold_starts": metrics.visible_cold_starts(jobs, lives),
        "cold_start_share": metrics.cold_start_share(jobs, lives),
    }


def summarize(
    jobs: Iterable[Job],
    lives: Iterable[WorkerLife],
    *,
    until: datetime,
    prices: PriceTable,
    requests: int | None = None,
) -> dict[str, Any]:
    """All the metrics of ``jobs`` and ``lives`` (already selected for a window), with
    open worker lives counted until ``until``. ``requests`` is what cost per 1000 requests
    divides by: the jobs, unless the caller counts more (warm-ups, in the planner)."""
    jobs, lives = list(jobs), list(lives)
    requests = len(jobs) if requests is None else requests
    total = total_cost_usd(jobs, lives, until, prices)
    photos = metrics.processed_photos(jobs)
    costs = cost_by_key(jobs, lives, until, prices)
    usage = metrics.usage_by_key(jobs)
    return {
        **latencies(jobs, lives),
        "photos": photos,
        "requests": requests,
        "workers_started": len(lives),
        "idle_worker_share": metrics.idle_worker_share(lives),
        "busy_share": metrics.busy_share(lives, until),
        "gpu_seconds": metrics.gpu_seconds(lives, until, prices.worker.gpus),
        "cost_usd": total,
        "cost_per_1000_photos_usd": per_thousand(total, photos),
        "cost_per_1000_requests_usd": per_thousand(total, requests),
        "cache_hit_rate": metrics.cache_hit_rate(jobs),
        "error_share": metrics.error_share(jobs),
        "errors_by_code": metrics.errors_by_code(jobs),
        "tiers": {
            tier.value: latencies(group, lives) for tier, group in metrics.by_tier(jobs).items()
        },
        "keys": {key: {**asdict(usage[key]), "cost_usd": costs.get(key, 0.0)} for key in usage}
        | ({k: {"cost_usd": v} for k, v in costs.items() if k not in usage}),
    }
