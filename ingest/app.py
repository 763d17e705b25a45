"""The HTTP edge: route (ingest/routes.py), parse into the route's request model
(ingest/parsing.py), call the service, and map our errors to JSON answers
(ingest/errors.py). Nothing below this module knows about HTTP.

Every answer is JSON (or an image, or the page); an error body is whatever the matched
route's renderer writes, ``{"error": {"code": ..., "message": ...}}`` by default.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

import effects
from cutout.backends import Backends
from cutout.errors import CutoutError
from cutout.job import JobState, OutputFormat
from cutout.keys import KeyKind, key_pepper
from cutout.ports import KeyStore
from cutout.ports.status import JobFilter
from cutout.scaling import ScaleResult
from cutout.settings import Settings
from ingest.admission import Admission
from ingest.auth import KeyRing, SchedulerAuth
from ingest.batches import BatchService
from ingest.cors import Cors, KnownOrigins, OriginNotAllowed, deployment_origins, origin_of
from ingest.errors import ApiError, error_body
from ingest.models import (
    BlobUploadQuery,
    JobListQuery,
    ReferenceBatchRequest,
    SignedUrlQuery,
    SubmissionRequest,
    UploadQuery,
)
from ingest.openapi import openapi_document
from ingest.page import ensure_page_key, page_bytes
from ingest.parsing import BodyLimits, parse_request, read_upload_body
from ingest.presenting import json_response
from ingest.references import ReferenceSubmissions
from ingest.removebg.endpoint import RemoveBgEndpoint
from ingest.routes import ROUTES, Route, route_map
from ingest.service import IngestService
from ingest.tenancy import Tenant, client_address

log = logging.getLogger(__name__)

POLL_AFTER_S = 1
API_VERSION = "1"


class IngestApp:
    def __init__(
        self, settings: Settings, backends: Backends, routes: Iterable[Route] = ROUTES
    ) -> None:
        routes = tuple(routes)
        self.settings = settings
        self.service = IngestService(settings, backends)
        self.batches = BatchService(backends)
        self.references = ReferenceSubmissions(self.service)
        self.keys = KeyRing.for_settings(settings, backends.keys)
        self.admission = Admission(settings, backends)
        self.removebg = RemoveBgEndpoint(settings, self.service, self.keys, self.admission)
        self.scale_auth = SchedulerAuth(settings.scale_caller, audience=settings.public_url)
        self.limits = BodyLimits(settings.max_upload_bytes)
        self.routes = route_map(routes, serves_blobs=self.service.serves_blobs)
        self.cors = Cors(
            deployment_origins(settings.public_url, settings.cors_origins),
            KnownOrigins(lambda: _publishable_origins(backends.keys), settings.key_cache_s),
        )
        if settings.page_key:
            own_origin = origin_of(settings.public_url)
            ensure_page_key(backends.keys, key_pepper(settings), settings.page_key, own_origin)
        self._page = page_bytes(settings.page_key)
        static = resources.files("ingest").joinpath("static")
        self._client = static.joinpath("cutout.js").read_bytes()
        self._openapi = json.dumps(
            openapi_document(routes, version=API_VERSION, server=settings.public_url)
        )

    def dispatch(self, request: Request) -> Response:
        started = time.perf_counter()
        route: Route | None = None
        refused = False
        metered: dict[str, str] = {}
        try:
            if self.cors.is_preflight(request):
                response = self.cors.preflight(request)
            else:
                route, args = self.routes.bind_to_environ(request.environ).match()
                response = self._answer(route, request, args, metered)
        except Exception as exc:
            refused = isinstance(exc, OriginNotAllowed)
            response = self._error(request, route, exc)
        for name, value in metered.items():
            response.headers.setdefault(name, value)
        self.cors.finish(request, response, refused=refused)
        log.debug(
            "%s %s -> %s",
            request.method,
            request.path,
            response.status_code,
            extra={"fields": {"latency_s": round(time.perf_counter() - started, 4)}},
        )
        return response

    def _answer(
        self, route: Route, request: Request, args: Mapping[str, Any], metered: dict[str, str]
    ) -> Response:
        """Identify the caller and meter its request (before any body is read; the
        rate-limit headers go into ``metered``, for every answer), check its origin
        (CORS), parse the route's request model, and call ``on_<endpoint>`` with them and
        the path's arguments."""
        inputs = dict(args)
        tenant: Tenant | None = None
        if route.identify:
            caller = self.keys.identify(request.headers)
            tenant = Tenant(caller, client_address(request, self.settings.trusted_proxy_hops))
            images = 1 if route.endpoint == "submit" else 0
            warm = route.endpoint == "warm"
            metered.update(self.admission.meter(tenant, images=images, warm=warm))
            inputs["tenant"] = tenant
        self.cors.check(request, tenant.caller if tenant else None)
        if route.request is not None:
            inputs["parsed"] = parse_request(route.request, request, self.limits)
        response: Response = getattr(self, f"on_{route.endpoint}")(request, **inputs)
        return response

    def _error(self, request: Request, route: Route | None, exc: Exception) -> Response:
        if isinstance(exc, RequestEntityTooLarge):
            exc = self.limits.too_large()
        error = ApiError.from_exception(exc)
        if not isinstance(exc, CutoutError | HTTPException):
            log.exception("unhandled error on %s %s", request.method, request.path)
        elif error.status >= 500:
            fields = {"event": "request_failed", "code": error.code}
            log.error("request failed: %s", error.message, extra={"fields": fields})
        render = route.render_error if route is not None else error_body
        return _json(render(error), error.status, dict(getattr(exc, "headers", {})))

    # -- pages and metadata -----------------------------------------------------------

    def on_page(self, request: Request) -> Response:
        return Response(self._page, content_type="text/html; charset=utf-8")

    def on_health(self, request: Request) -> Response:
        return _json({"ok": True, "backend": self.settings.backend.value})

    def on_openapi(self, request: Request) -> Response:
        return Response(self._openapi, content_type="application/json")

    def on_client(self, request: Request) -> Response:
        """cutout.js (clients/cutout.js); the path carries the API version, so a shop's
        pages keep a client that speaks the API they were written for."""
        return Response(
            self._client,
            content_type="text/javascript; charset=utf-8",
            headers={"Cache-Control": "public, max-age=300"},
        )

    def on_effects(self, request: Request) -> Response:
        return _json(
            {"effects": effects.catalogue(), "formats": [f.value for f in OutputFormat]},
            headers={"Cache-Control": "public, max-age=300"},
        )

    # -- jobs -------------------------------------------------------------------------

    def on_submit(self, request: Request, tenant: Tenant, parsed: SubmissionRequest) -> Response:
        tenant.caller.check_priority(parsed.priority)
        self.admission.shed(parsed.priority)
        accepted = self.service.submit(parsed.submission(tenant.id))
        body = self.service.present(accepted.job)
        location = f"/v1/jobs/{accepted.job.id}"
        body["poll_url"] = self.settings.public_url.rstrip("/") + location
        headers = {"Location": location}
        if accepted.replayed:
            headers["Idempotent-Replayed"] = "true"
        if accepted.job.state is JobState.DONE:
            return _json(body, 200, headers)
        headers["Retry-After"] = str(POLL_AFTER_S)
        return _json(body, 202, headers)

    def on_job(self, request: Request, tenant: Tenant, job_id: str) -> Response:
        job = tenant.check_readable(self.service.get(job_id))
        headers = {} if job.state.is_finished else {"Retry-After": str(POLL_AFTER_S)}
        return _json(self.service.present(job), 200, headers)

    def on_list_jobs(self, request: Request, tenant: Tenant, parsed: JobListQuery) -> Response:
        tenant.check_listing()
        page = self.service.list_jobs(
            tenant.id,
            JobFilter(state=parsed.state, batch_id=parsed.batch_id),
            limit=parsed.limit,
            cursor=parsed.cursor,
        )
        return _json(
            {"jobs": [self.service.present(j) for j in page.jobs], "next_cursor": page.next_cursor}
        )

    # -- batches (a backfill's jobs: like listing, for secret keys) ---------------------

    def on_batch(self, request: Request, tenant: Tenant, batch_id: str) -> Response:
        tenant.check_listing()
        return _json(self.batches.summary(tenant.id, batch_id))

    def on_batch_items(
        self, request: Request, tenant: Tenant, parsed: ReferenceBatchRequest, batch_id: str
    ) -> Response:
        """By-reference items (ingest/references.py): a secret key, every source and the
        destination within the key's granted prefixes, else 403 before anything is made."""
        tenant.check_listing()
        if parsed.dest is not None:
            tenant.caller.check_destination(parsed.dest)
        for item in parsed.items:
            tenant.caller.check_source(item.uri)
        tenant.caller.check_priority(parsed.priority)
        self.admission.spend_images(tenant, len(parsed.items))
        self.admission.shed(parsed.priority)
        return _json(self.references.submit(tenant.id, batch_id, parsed))

    def on_cancel_batch(self, request: Request, tenant: Tenant, batch_id: str) -> Response:
        tenant.check_listing()
        return _json(self.batches.cancel(tenant.id, batch_id))

    def on_new_upload(self, request: Request, tenant: Tenant, parsed: UploadQuery) -> Response:
        return _json(self.service.new_upload(parsed.content_type), 201)

    # -- remove.bg's API (ingest/removebg/) ------------------------------------------------

    def on_removebg(self, request: Request) -> Response:
        return self.removebg.remove_background(request)

    def on_removebg_account(self, request: Request) -> Response:
        return self.removebg.account(request)

    # -- scaling ----------------------------------------------------------------------

    def on_warm(self, request: Request, tenant: Tenant) -> Response:
        """A user has started choosing a photo: have a worker starting before the upload.
        Metered (ingest/admission.py), and a no-op when one is alive or already on its
        way (the scale-up lease): ``started`` is 0 and ``already_warm`` says why. A
        failure is logged, not answered: the page has nothing to do about it."""
        result = self.service.try_scale(warm=True)
        body = _scaled_body(result)
        if result is not None:
            body["already_warm"] = result.started == 0
        return _json(body)

    def on_scale(self, request: Request) -> Response:
        """Cloud Scheduler's periodic backlog check (and an operator's manual nudge); a
        failed scale answers 503 ``scale_failed``, so the scheduler records it."""
        self.scale_auth.check(request.headers.get("Authorization", ""))
        return _scaled(self.service.scale())

    # -- signed blob URLs (mounted only when the backends serve them) -------------------

    def on_blob_get(self, request: Request, parsed: SignedUrlQuery, key: str) -> Response:
        info, data = self.service.read_blob(key, expires=parsed.expires, sig=parsed.sig)
        return Response(
            data,
            content_type=info.content_type,
            headers={"Cache-Control": "private, max-age=3600, immutable"},
        )

    def on_blob_put(self, request: Request, parsed: BlobUploadQuery, key: str) -> Response:
        self.service.write_blob(
            key,
            lambda: read_upload_body(request, self.limits),
            content_type=parsed.content_type,
            expires=parsed.expires,
            sig=parsed.sig,
        )
        return Response(status=200)


def _publishable_origins(store: KeyStore) -> set[str]:
    """Every origin an active publishable key is bound to (keys are an operator's list,
    a few records: ingest/cors.py reads it at most once per key_cache_s)."""
    return {
        origin
        for record in store.list_keys(include_revoked=False)
        if record.kind is KeyKind.PUBLISHABLE
        for origin in record.allowed_origins
    }


def _scaled(result: ScaleResult | None) -> Response:
    return _json(_scaled_body(result))


def _scaled_body(result: ScaleResult | None) -> dict[str, Any]:
    return {"autoscale": result is not None, **(result.to_dict() if result else {})}


_json = json_response
