"""What the work cost, from the records of :mod:`cutout.metrics` and a
:class:`~cutout.prices.PriceTable`. One definition each, used by the report (real jobs)
and the planner (simulated jobs) alike.

Two parts make a bill:

- **workers**: every worker's alive seconds (:func:`cutout.metrics.alive_seconds`) at its
  shape's rate — GPU, vCPUs and memory, billed for the whole life, idle time included;
- **requests**: what each job costs outside the GPU, counted from its record (see
  :func:`request_cost_usd`). Client polls and downloads beyond one per result are not
  recorded, so they are not counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from cutout.job import Job
from cutout.metrics import alive_seconds, is_cache_hit, service_seconds, share
from cutout.prices import PriceTable
from cutout.worker_life import WorkerLife

TIB = 1024**4
GIB = 1024**3
DAYS_PER_MONTH = 730 / 24  # Google bills storage per 730-hour month
#: Cloud Run rounds each request's billed time up to the next 100 ms.
BILLING_STEP_S = 0.1
#: Where worker cost goes when no job was served at all (idle workers only).
UNATTRIBUTED = "(unattributed)"


def worker_usd_per_second(prices: PriceTable) -> float:
    """One worker's rate: its GPUs, vCPUs and GiB, each at its per-second price."""
    shape = prices.worker
    return (
        shape.gpus * prices.gpu_second.rate
        + shape.vcpu * prices.worker_vcpu_second.rate
        + shape.memory_gib * prices.worker_gib_second.rate
    )


def worker_cost_usd(lives: Iterable[WorkerLife], until: datetime, prices: PriceTable) -> float:
    """Every worker's alive seconds at :func:`worker_usd_per_second`."""
    return worker_usd_per_second(prices) * sum(alive_seconds(w, until) for w in lives)


def _billed_seconds(seconds: float) -> float:
    steps = -(-seconds // BILLING_STEP_S)  # ceiling division
    return max(1.0, steps) * BILLING_STEP_S


def request_cost_usd(job: Job, prices: PriceTable) -> float:
    """One job's cost outside the workers:

    - ingest: one request, and its ``ingest`` stage seconds (rounded up to 100 ms) of the
      whole ingest instance (concurrent requests sharing it are not discounted);
    - Firestore: 1 write to create the job; per delivery (``attempts``) 1 read + 1 write
      to claim it; 1 write per result or effect error; 1 read + 1 write to finish it on
      a worker;
    - Pub/Sub (not for cache hits): one publish and one delivery per attempt, each billed
      as a request of at least ``pubsub_min_bytes`` (an upper bound: one pull request
      may deliver a whole batch);
    - Cloud Storage: 1 Class A write for the upload and 1 per result a worker wrote; 1
      Class B read per delivery (the worker fetches the photo) and 1 per result (the
      caller downloads it); the upload kept ``uploads_kept_days`` and the results kept
      ``results_kept_days``.
    """
    ingest = prices.ingest
    ingest_rate = ingest.vcpu * prices.ingest_vcpu_second.rate
    ingest_rate += ingest.memory_gib * prices.ingest_gib_second.rate
    usd = prices.ingest_request.rate
    usd += _billed_seconds(job.timings.stages.get("ingest", 0.0)) * ingest_rate

    deliveries = job.attempts
    on_worker = job.timings.started_at is not None and job.timings.finished_at is not None
    outcomes = len(job.results) + len(job.effect_errors)
    writes = 1 + deliveries + outcomes + on_worker
    reads = deliveries + on_worker
    usd += writes * prices.firestore_write.rate + reads * prices.firestore_read.rate

    if not is_cache_hit(job):
        messages = 1 + max(deliveries, 1)
        usd += messages * prices.pubsub_min_bytes / TIB * prices.pubsub_tib.rate

    written = sum(r.written_at is not None for r in job.results.values())
    usd += (1 + written) * prices.gcs_class_a.rate
    usd += (deliveries + len(job.results)) * prices.gcs_class_b.rate
    result_bytes = sum(r.bytes for r in job.results.values())
    gib_months = (
        job.input.bytes * prices.uploads_kept_days + result_bytes * prices.results_kept_days
    ) / (GIB * DAYS_PER_MONTH)
    usd += gib_months * prices.gcs_gib_month.rate
    return usd


def total_cost_usd(
    jobs: Iterable[Job], lives: Iterable[WorkerLife], until: datetime, prices: PriceTable
) -> float:
    """Workers plus every job's requests."""
    return worker_cost_usd(lives, until, prices) + sum(request_cost_usd(j, prices) for j in jobs)


def per_thousand(usd: float, count: int) -> float | None:
    """Cost per 1000 of something (photos, requests); ``None`` when there were none."""
    each = share(usd, count)
    return None if each is None else 1000 * each


def cost_by_key(
    jobs: Sequence[Job], lives: Iterable[WorkerLife], until: datetime, prices: PriceTable
) -> dict[str, float]:
    """Each API key's cost: its jobs' requests, plus the workers' cost shared out by the
    key's share of the service seconds (idle time is paid by those who were served).
    With no service seconds at all, the workers' cost goes to ``(unattributed)``. The
    values add up to :func:`total_cost_usd`."""
    costs: dict[str, float] = {}
    served: dict[str, float] = {}
    for job in jobs:
        key = job.client.key_id
        costs[key] = costs.get(key, 0.0) + request_cost_usd(job, prices)
        served[key] = served.get(key, 0.0) + (service_seconds(job) or 0.0)
    workers = worker_cost_usd(lives, until, prices)
    total_served = sum(served.values())
    if total_served > 0:
        for key, seconds in served.items():
            costs[key] += workers * seconds / total_served
    elif workers > 0:
        costs[UNATTRIBUTED] = workers
    return dict(sorted(costs.items()))
