"""Tenancy: who a caller is as a tenant, where it calls from, and what it may see.

Every rule about callers and jobs lives here:

- **The client's address** is the one the deployment sees: the socket's peer, unless
  ``trusted_proxy_hops`` proxies sit in front (Cloud Run: 1, Google's front end appends
  the client's address to ``X-Forwarded-For``), in which case it is the entry that many
  hops from the right. Entries further left were written by the client and are never
  trusted; with 0 hops the header is ignored entirely.
- **The tenant** owns a job's listing and idempotency scope: a key is its own tenant;
  each anonymous client is ``anon:<client network>`` (IPv6 per /64,
  :func:`cutout.quotas.client_network`), so two strangers never share either.
- **Visibility**: a secret key reads only its own jobs (another's answers 404
  ``job_not_found``, exactly like a missing one, so ids cannot be probed); anonymous and
  publishable callers read any job by its id, which is unguessable (128 random bits, or
  an idempotent id digested from the tenant and its key). Listing needs a secret key.
- **Publishable keys** may submit jobs (a direct upload is part of submitting, so
  ``POST /v1/uploads`` is theirs too), read jobs and warm; nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from werkzeug.wrappers import Request

from cutout.codes import ErrorCode
from cutout.errors import NotFound
from cutout.job import Job
from cutout.keys import KeyKind
from cutout.quotas import CallerKind, Quota, QuotaCaller, QuotaDefaults, client_network
from ingest.auth import Caller, Forbidden

ANONYMOUS_TENANT_PREFIX = "anon:"


def client_address(request: Request, trusted_proxy_hops: int) -> str:
    """The caller's address as the deployment sees it (see the module docstring)."""
    peer = request.remote_addr or "unknown"
    if trusted_proxy_hops <= 0:
        return peer
    forwarded = [
        hop.strip()
        for value in request.headers.getlist("X-Forwarded-For")
        for hop in value.split(",")
        if hop.strip()
    ]
    if len(forwarded) < trusted_proxy_hops:
        return peer  # not through the configured proxies: the peer is all we know
    return forwarded[-trusted_proxy_hops]


@dataclass(frozen=True)
class Tenant:
    """A caller and its address: the subject of quotas, listings and idempotency."""

    caller: Caller
    address: str

    @property
    def id(self) -> str:
        """What jobs store as their ``client.key_id``: the key, or the anonymous client."""
        if self.caller.anonymous:
            return ANONYMOUS_TENANT_PREFIX + client_network(self.address)
        return self.caller.key_id

    @property
    def is_secret(self) -> bool:
        return self.caller.kind is KeyKind.SECRET

    def quota_caller(self, defaults: QuotaDefaults) -> QuotaCaller:
        """The caller as the quotas see it: a key record's own quotas, each field it
        leaves out taken from its kind's default."""
        if self.caller.kind is None:
            return QuotaCaller(CallerKind.ANONYMOUS, self.address)
        own = self.caller.quotas
        base = defaults.secret if self.is_secret else defaults.publishable
        quota = Quota(
            own.requests_per_minute or base.requests_per_minute,
            own.images_per_day or base.images_per_day,
        )
        kind = CallerKind(self.caller.kind.value)
        return QuotaCaller(kind, self.address, key_id=self.caller.key_id, quota=quota)

    def check_listing(self) -> None:
        """Listing jobs is for secret keys: 403 ``listing_needs_secret_key`` otherwise."""
        if not self.is_secret:
            who = "an anonymous caller" if self.caller.anonymous else "a publishable key"
            raise Forbidden(
                f"listing jobs needs a secret API key; {who} reads its jobs by id",
                code=ErrorCode.LISTING_NEEDS_SECRET_KEY,
            )

    def check_readable(self, job: Job) -> Job:
        """The job, if this caller may read it; else the same 404 as a missing job."""
        if self.is_secret and job.client.key_id != self.caller.key_id:
            raise NotFound(f"no job with id {job.id!r}", code=ErrorCode.JOB_NOT_FOUND)
        return job
