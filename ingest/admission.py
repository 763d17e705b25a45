"""Admission at the edge: quotas on every metered request, load shedding on new jobs,
and the warm-up gate.

- **Quotas** (cutout/quotas.py): one check per request, right after the caller is
  identified and before any blob or job is written. The routes it meters are the ones
  that identify their caller (ingest/routes.py): everything but the page, ``/healthz``,
  ``/v1/effects``, ``/v1/scale`` (OIDC-checked, the scheduler's) and the signed blob
  URLs (the signature is the permission). A submission also spends one image.
- **Shedding** (cutout/shedding.py): ``POST /v1/jobs`` only, after the priority check,
  so a refused job was never written.
- **Warm**: ``POST /v1/warm`` spends a warm call of the caller's quota too, and starts
  nothing when a worker is alive or on its way (the scaler counts both).
"""

from __future__ import annotations

from cutout.backends import Backends
from cutout.job import Priority
from cutout.quotas import Decision, QuotaDefaults, QuotaLimiter, rate_limit_headers
from cutout.settings import Settings
from cutout.shedding import BacklogCache, SheddingPolicy
from ingest.tenancy import Tenant


class Admission:
    def __init__(self, settings: Settings, backends: Backends) -> None:
        self.defaults = QuotaDefaults.from_settings(settings)
        self.limiter = QuotaLimiter.from_settings(settings)
        self.shedding = SheddingPolicy.from_settings(settings)
        self.backlog = BacklogCache(backends.queue.depth)

    def meter(self, tenant: Tenant, *, images: int = 0, warm: bool = False) -> dict[str, str]:
        """Count the request; the rate-limit headers its answer carries, or
        :class:`~cutout.errors.RateLimited` (429, with those headers) when refused."""
        decision: Decision = self.limiter.check(
            tenant.quota_caller(self.defaults), images=images, warm=warm
        )
        decision.raise_if_limited()
        return rate_limit_headers(decision)

    def spend_images(self, tenant: Tenant, images: int) -> None:
        """Spend ``images`` of a request :meth:`meter` already counted, once the endpoint
        knows how many it carries (by-reference items, remove.bg), so a 400 spends none;
        :class:`~cutout.errors.RateLimited` when the day's images would run out."""
        quota_caller = tenant.quota_caller(self.defaults)
        self.limiter.spend_images(quota_caller, images).raise_if_limited()

    def shed(self, priority: Priority) -> None:
        """Refuse a new ``priority`` job past its tier's backlog bound (503 overloaded)."""
        self.shedding.decide(self.backlog.counts(), priority).raise_if_shed()
