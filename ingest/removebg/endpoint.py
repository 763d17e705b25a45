"""``POST /v1.0/removebg`` and ``GET /v1.0/account``: remove.bg's synchronous API on top
of cutout's jobs.

A request is answered in this order: the key (secret keys only: remove.bg's keys are
server secrets; ``X-Api-Key`` or ``Authorization: Bearer``), the request counted
against the quotas (429; its ``X-RateLimit-*`` go on every answer), the parameters (a
400 spends no image), one image spent (402 when the images per day are spent), the
backlog (503 with ``Retry-After`` *at once* when the jobs ahead of this one predict a
wait past ``removebg_wait_s``, or the tier is past its bound), a wait slot (at most
``removebg_max_waits`` per instance and ``removebg_max_waits_per_key`` per key: waiting
holds a request slot, and Cloud Run caps both concurrency and request time), the images
(fetched safely), then the job — the same job ``POST /v1/jobs`` makes, at the key's
tier — and the wait. A wait that outlives ``removebg_wait_s`` answers 504
``result_timeout`` naming the job, uncharged; the job keeps running and
``GET /v1/jobs/{id}`` serves its result.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from werkzeug.wrappers import Request, Response

from cutout.codes import ErrorCode
from cutout.errors import CutoutError, InvalidInput, Overloaded, TransientError
from cutout.job import ClientInfo, EffectResult, Job, Priority
from cutout.keys import KeyKind
from cutout.settings import Settings
from cutout.shedding import MAX_RETRY_AFTER_S
from ingest.admission import Admission
from ingest.auth import ANONYMOUS, Caller, Forbidden, KeyRing
from ingest.fetch import Fetcher
from ingest.parsing import BodyLimits, body_fields
from ingest.removebg import responses, sources
from ingest.removebg.params import RemoveBgRequest, plan
from ingest.service import IngestService, Submission
from ingest.tenancy import Tenant, client_address

log = logging.getLogger(__name__)

POLL_FIRST_S = 0.02
POLL_MAX_S = 0.25


class ResultTimeout(CutoutError):
    default_code = ErrorCode.RESULT_TIMEOUT

    def __init__(self, job_id: str, wait_s: float) -> None:
        super().__init__(
            f"job {job_id} was not finished within {wait_s:g} s; it keeps running: "
            f"GET /v1/jobs/{job_id} serves its result (no credits charged)"
        )
        self.headers = {"X-Job-Id": job_id, "Location": f"/v1/jobs/{job_id}"}


class WaitSlots:
    """Concurrent synchronous waits, per instance and per key (thread-safe)."""

    def __init__(self, per_instance: int, per_key: int) -> None:
        self._per_instance = per_instance
        self._per_key = per_key
        self._held: Counter[str] = Counter()
        self._lock = threading.Lock()

    @contextmanager
    def hold(self, key_id: str) -> Iterator[None]:
        with self._lock:
            if sum(self._held.values()) >= self._per_instance or (
                self._held[key_id] >= self._per_key
            ):
                full = Overloaded(
                    f"too many synchronous requests are waiting (at most {self._per_key} per "
                    f"key, {self._per_instance} per instance); retry shortly",
                    retry_after_s=1,
                )
                full.code = ErrorCode.WAIT_SLOTS_FULL
                raise full
            self._held[key_id] += 1
        try:
            yield
        finally:
            with self._lock:
                self._held[key_id] -= 1


class RemoveBgEndpoint:
    def __init__(
        self,
        settings: Settings,
        service: IngestService,
        keys: KeyRing,
        admission: Admission,
        *,
        fetcher: Fetcher | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.service = service
        self.keys = keys
        self.admission = admission  # the edge's own: one quota count, one backlog cache
        self.fetcher = fetcher or Fetcher.for_settings(settings)
        self.slots = WaitSlots(settings.removebg_max_waits, settings.removebg_max_waits_per_key)
        self.limits = BodyLimits(settings.max_upload_bytes)
        self._sleep = sleep

    def remove_background(self, request: Request) -> Response:
        headers: dict[str, str] = {}
        try:
            tenant = self._secret_tenant(request, headers)
            headers.update(self.admission.meter(tenant))
            req = RemoveBgRequest.parse(
                body_fields(request, self.limits, RemoveBgRequest.file_fields, lists=())
            )
            wanted = plan(req)
            self.admission.spend_images(tenant, 1)
            self._predict(tenant.caller.tier)
            with self.slots.hold(tenant.id):
                photo = sources.photo_bytes(req, self.fetcher)
                photo = sources.fit_megapixels(
                    photo, wanted.megapixels, max_pixels=self.settings.max_pixels
                )
                accepted = self.service.submit(
                    Submission(
                        effects=wanted.effects,
                        output=wanted.output,
                        priority=tenant.caller.tier,
                        client=ClientInfo(key_id=tenant.id),
                        data=photo,
                        background=sources.background_bytes(wanted, self.fetcher),
                        display=False,  # it answers with the full image: no preview to show
                    )
                )
                job = self._wait(accepted.job)
            result = _answer_result(job, wanted.answer_effect)
            data = self.service.backends.blobs.get(result.key)
            return responses.image_answer(request, wanted, data, job.output.format.value, headers)
        except Exception as exc:
            return self._failed(request, exc, headers)

    def account(self, request: Request) -> Response:
        headers: dict[str, str] = {}
        try:
            tenant = self._secret_tenant(request, headers)
            headers.update(self.admission.meter(tenant))
            quota_caller = tenant.quota_caller(self.admission.defaults)
            remaining, _ = self.admission.limiter.images_left(quota_caller)
            body = responses.account_body(remaining)
            return responses.json_response(body, 200, headers)
        except Exception as exc:
            return self._failed(request, exc, headers)

    def _failed(self, request: Request, exc: Exception, headers: dict[str, str]) -> Response:
        if not isinstance(exc, CutoutError):
            log.exception("unhandled error on %s %s", request.method, request.path)
        return responses.error_response(responses.removebg_error(exc), headers)

    # -- the steps ------------------------------------------------------------------------

    def _secret_tenant(self, request: Request, headers: dict[str, str]) -> Tenant:
        """The key's tenant; a missing or wrong key (counted against the client address,
        so the answer has its ``X-RateLimit-*`` too) or a publishable one is a 403."""
        address = client_address(request, self.settings.trusted_proxy_hops)
        try:
            caller = self.keys.identify(request.headers)
            if caller.kind is not KeyKind.SECRET:
                raise Forbidden(
                    "remove.bg's API needs a secret API key (X-Api-Key)",
                    code=ErrorCode.MISSING_API_KEY if caller.anonymous else ErrorCode.FORBIDDEN,
                )
            return Tenant(caller, address)
        except CutoutError:
            headers.update(self.admission.meter(Tenant(Caller(ANONYMOUS, Priority.BATCH), address)))
            raise

    def _predict(self, tier: Priority) -> None:
        """Shed a tier past its bound, and refuse at once a wait the backlog says would
        outlive ``removebg_wait_s`` (the jobs ahead over the drain rate)."""
        shedding = self.admission.shedding
        decision = shedding.decide(self.admission.backlog.counts(), tier)
        decision.raise_if_shed()
        predicted_s = decision.waiting / shedding.drain_per_s
        limit_s = self.settings.removebg_wait_s
        if predicted_s > limit_s:
            retry = min(MAX_RETRY_AFTER_S, max(1, math.ceil(predicted_s - limit_s)))
            raise Overloaded(
                f"{decision.waiting} jobs are ahead of this one: about {predicted_s:.0f} s, "
                f"past the {limit_s:g} s this endpoint waits; retry in {retry} s or use "
                "POST /v1/jobs",
                retry_after_s=retry,
            )

    def _wait(self, job: Job) -> Job:
        """The finished job, or :class:`ResultTimeout` at ``removebg_wait_s``; a failed
        job (or the answer's effect failing) raises its error."""
        deadline = time.monotonic() + self.settings.removebg_wait_s
        pause = POLL_FIRST_S
        while not job.state.is_finished:
            if time.monotonic() >= deadline:
                raise ResultTimeout(job.id, self.settings.removebg_wait_s)
            self._sleep(pause)
            pause = min(POLL_MAX_S, pause * 2)
            job = self.service.get(job.id)
        return job


def _answer_result(job: Job, effect: str) -> EffectResult:
    """The answer's result; its effect's error (or the job's) when there is none: a
    problem with the photo is the client's (400), anything else the service's (503)."""
    if effect in job.results:
        return job.results[effect]
    error = job.effect_errors.get(effect) or job.error
    code = error.code if error else ErrorCode.EFFECT_FAILED
    message = f"job {job.id}: {error.message if error else 'no result'}"
    if code in responses.CODES:
        raise InvalidInput(message, code=code)
    raise TransientError(message, code=code)
