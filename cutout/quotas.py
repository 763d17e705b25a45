"""Quotas at the edge: requests per minute and images per day, per subject.

Subjects, narrowest first (each request is counted against every one of its subjects):

- an anonymous caller: its client address;
- a publishable key: (key, client address), then the key as a whole — the key is public,
  so one scraper spends its own address's quota, not the shop's;
- a secret key: the key.

IPv6 addresses count per /64 (one client's usual allocation), IPv4 per address. A key's
own record may carry its quotas; otherwise the settings' defaults for its kind apply.

Counters live in a :mod:`limits` storage: ``memory://`` for the local stack (one ingest
process; each process would count on its own) and Redis on GCP (Memorystore, infra/
quotas.tf), where every ingest instance shares one count. Redis over Firestore counters:
a check is one atomic ``INCR``+``EXPIRE`` script in well under a millisecond, where a
Firestore transaction takes tens and a hot document takes about one write a second
(sharding it makes every read a fan-out), and Redis expires the counters itself.

Windows are ``limits``' fixed windows: a counter starts at a subject's first hit and
expires ``1 minute`` / ``1 day`` later (exact counts, one round trip per hit). A refused
request counts against the requests-per-minute of the subjects checked before it; images
are tested first and then spent, so a refused submission spends no images (two racing
instances can overshoot by what they admit between the test and the hit).

When the storage fails, the request is let through and the failure logged: quotas keep
callers fair, the backlog bound (cutout/shedding.py) keeps the service up without them.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from limits import RateLimitItem, RateLimitItemPerDay, RateLimitItemPerMinute
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from cutout.errors import RateLimited
from cutout.settings import Settings

log = logging.getLogger(__name__)

NAMESPACE = "cutout"
#: A Redis that does not answer within this long fails the check open (logged).
REDIS_TIMEOUT_S = 0.25


class CallerKind(StrEnum):
    ANONYMOUS = "anonymous"
    PUBLISHABLE = "publishable"
    SECRET = "secret"


class Window(StrEnum):
    REQUESTS = "requests per minute"
    IMAGES = "images per day"
    WARM = "warm calls per minute"


@dataclass(frozen=True)
class Quota:
    requests_per_minute: int
    images_per_day: int


@dataclass(frozen=True)
class QuotaCaller:
    """Who is asking, as the quotas see it: the edge builds it from the key record (if
    any) and the client address the deployment trusts."""

    kind: CallerKind
    address: str
    key_id: str | None = None  # required for publishable and secret callers
    quota: Quota | None = None  # the key record's own quotas; None: the kind's default


@dataclass(frozen=True)
class QuotaDefaults:
    anonymous: Quota
    publishable: Quota  # one publishable key, all its clients together
    publishable_client: Quota  # one (publishable key, client address)
    secret: Quota
    warm_per_minute: int

    @classmethod
    def from_settings(cls, s: Settings) -> QuotaDefaults:
        return cls(
            anonymous=Quota(
                s.quota_anonymous_requests_per_minute, s.quota_anonymous_images_per_day
            ),
            publishable=Quota(
                s.quota_publishable_requests_per_minute, s.quota_publishable_images_per_day
            ),
            publishable_client=Quota(
                s.quota_publishable_client_requests_per_minute,
                s.quota_publishable_client_images_per_day,
            ),
            secret=Quota(s.quota_secret_requests_per_minute, s.quota_secret_images_per_day),
            warm_per_minute=s.quota_warm_per_minute,
        )


@dataclass(frozen=True)
class Decision:
    """One check's answer. ``limit``/``remaining``/``reset`` describe the window that
    refused, or when allowed the narrowest subject's requests per minute; ``reset`` is
    in epoch seconds, ``retry_after_s`` 0 when allowed. ``limit == 0``: unmetered (the
    storage failed), so there are no headers to send."""

    allowed: bool
    limit: int
    remaining: int
    reset: int
    retry_after_s: int
    window: Window | None = None
    subject: str = ""

    @classmethod
    def unmetered(cls) -> Decision:
        return cls(True, 0, 0, 0, 0)

    def raise_if_limited(self) -> None:
        """Raise :class:`~cutout.errors.RateLimited` (the edge's 429) when refused."""
        if not self.allowed:
            raise RateLimited(
                f"rate limited: {self.limit} {self.window} for {self.subject}; "
                f"retry in {self.retry_after_s} s",
                headers=rate_limit_headers(self),
            )


def rate_limit_headers(decision: Decision) -> dict[str, str]:
    """The headers every metered answer carries; ``Retry-After`` only on a refusal."""
    if decision.limit == 0:
        return {}
    headers = {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(decision.remaining),
        "X-RateLimit-Reset": str(decision.reset),
    }
    if not decision.allowed:
        headers["Retry-After"] = str(decision.retry_after_s)
    return headers


def client_network(address: str) -> str:
    """What one client is: an IPv4 address, an IPv6 /64 (IPv4-mapped IPv6 as IPv4)."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address.strip() or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _per_minute(amount: int) -> RateLimitItem:
    return RateLimitItemPerMinute(amount, namespace=NAMESPACE)


def _per_day(amount: int) -> RateLimitItem:
    return RateLimitItemPerDay(amount, namespace=NAMESPACE)


@dataclass(frozen=True)
class _Subject:
    ids: tuple[str, ...]
    quota: Quota
    label: str


class QuotaLimiter:
    """Checks one request against every quota of its caller; safe to share between
    threads. Two limiters on one Redis enforce one quota."""

    def __init__(
        self,
        storage_uri: str,
        defaults: QuotaDefaults,
        *,
        storage_options: dict[str, Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        options = storage_options or {}
        self._storage = storage_from_string(storage_uri, wrap_exceptions=True, **options)
        self._limiter = FixedWindowRateLimiter(self._storage)
        self._defaults = defaults
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Settings) -> QuotaLimiter:
        uri = settings.quota_storage_uri
        options: dict[str, Any] = {}
        if uri.startswith(("redis://", "rediss://")):
            options = {"socket_timeout": REDIS_TIMEOUT_S, "socket_connect_timeout": REDIS_TIMEOUT_S}
            if settings.quota_storage_ca:
                options["ssl_ca_data"] = settings.quota_storage_ca
        return cls(uri, QuotaDefaults.from_settings(settings), storage_options=options)

    def check(self, caller: QuotaCaller, *, images: int = 0, warm: bool = False) -> Decision:
        """Count one request against the caller's quotas, plus ``images`` photos (1 for a
        job submission) and, with ``warm``, one warm call; the first window that refuses
        is the answer. Call it once per request, before anything is written."""
        subjects = self._subjects(caller)
        narrowest = subjects[0]
        try:
            for subject in subjects:
                item = _per_minute(subject.quota.requests_per_minute)
                if not self._limiter.hit(item, "requests", *subject.ids):
                    return self._decision(False, item, ("requests", *subject.ids), subject)
            if warm:
                item = _per_minute(self._defaults.warm_per_minute)
                if not self._limiter.hit(item, "warm", *narrowest.ids):
                    return self._decision(False, item, ("warm", *narrowest.ids), narrowest)
            if images > 0:
                refusal = self._spend_images(subjects, images)
                if refusal is not None:
                    return refusal
            item = _per_minute(narrowest.quota.requests_per_minute)
            return self._decision(True, item, ("requests", *narrowest.ids), narrowest)
        except StorageError as exc:
            log.error("quota storage failed, request let through unmetered: %s", exc.storage_error)
            return Decision.unmetered()

    def spend_images(self, caller: QuotaCaller, images: int) -> Decision:
        """Spend ``images`` of a caller whose request :meth:`check` already counted (an
        endpoint that validates the request in between, so a 400 spends no image)."""
        subjects = self._subjects(caller)
        try:
            refusal = self._spend_images(subjects, images)
            narrowest = subjects[0]
            item = _per_minute(narrowest.quota.requests_per_minute)
            return refusal or self._decision(True, item, ("requests", *narrowest.ids), narrowest)
        except StorageError as exc:
            log.error("quota storage failed, request let through unmetered: %s", exc.storage_error)
            return Decision.unmetered()

    def images_left(self, caller: QuotaCaller) -> tuple[int, int]:
        """``(remaining, limit)`` of images today for the caller's widest subject (the
        whole key), spending nothing: what remove.bg's ``GET /v1.0/account`` reports."""
        subject = self._subjects(caller)[-1]
        item = _per_day(subject.quota.images_per_day)
        try:
            stats = self._limiter.get_window_stats(item, "images", *subject.ids)
        except StorageError:
            return item.amount, item.amount
        return stats.remaining, item.amount

    def _spend_images(self, subjects: list[_Subject], images: int) -> Decision | None:
        checks = [(_per_day(s.quota.images_per_day), ("images", *s.ids), s) for s in subjects]
        for item, ids, subject in checks:
            if not self._limiter.test(item, *ids, cost=images):
                return self._decision(False, item, ids, subject)
        for item, ids, subject in checks:
            if not self._limiter.hit(item, *ids, cost=images):
                return self._decision(False, item, ids, subject)
        return None

    def _decision(
        self, allowed: bool, item: RateLimitItem, ids: tuple[str, ...], subject: _Subject
    ) -> Decision:
        stats = self._limiter.get_window_stats(item, *ids)
        retry = 0 if allowed else max(1, math.ceil(stats.reset_time - self._clock()))
        window = {"requests": Window.REQUESTS, "warm": Window.WARM, "images": Window.IMAGES}
        return Decision(
            allowed=allowed,
            limit=item.amount,
            remaining=stats.remaining,
            reset=math.ceil(stats.reset_time),
            retry_after_s=retry,
            window=window[ids[0]],
            subject=subject.label,
        )

    def _subjects(self, caller: QuotaCaller) -> list[_Subject]:
        client = client_network(caller.address)
        if caller.kind is CallerKind.ANONYMOUS:
            return [_Subject(("client", client), self._defaults.anonymous, f"client {client}")]
        if not caller.key_id:
            raise ValueError(f"a {caller.kind.value} caller needs a key id")
        key = ("key", caller.key_id)
        if caller.kind is CallerKind.SECRET:
            quota = caller.quota or self._defaults.secret
            return [_Subject(key, quota, f"key {caller.key_id}")]
        return [
            _Subject(
                (*key, "client", client),
                self._defaults.publishable_client,
                f"key {caller.key_id} from {client}",
            ),
            _Subject(key, caller.quota or self._defaults.publishable, f"key {caller.key_id}"),
        ]
