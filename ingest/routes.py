"""The route table: every route ingest answers, written once.

Each :class:`Route` names its method and path, the ``IngestApp.on_<endpoint>`` method
that answers it, the request model its inputs are parsed into (ingest/models.py),
whether the caller's API key is identified first, and the renderer of its error bodies.
The app builds its URL map from this table and an API description can be generated from
it and the models.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from werkzeug.routing import Map, Rule

from ingest.errors import ErrorRenderer, error_body
from ingest.models import (
    BlobUploadQuery,
    JobListQuery,
    ReferenceBatchRequest,
    RequestModel,
    SignedUrlQuery,
    SubmissionRequest,
    UploadQuery,
)
from ingest.removebg.responses import render_error as removebg_error


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    endpoint: str  # answered by IngestApp.on_<endpoint>
    summary: str
    request: type[RequestModel] | None = None  # passed to the handler as ``parsed``
    identify: bool = False  # the caller's key is checked (and metered) before the body is read
    render_error: ErrorRenderer = error_body
    serves_blobs: bool = False  # mounted only when the backends offer BlobRoutes


ROUTES: tuple[Route, ...] = (
    Route("GET", "/", "page", "the web page"),
    Route("GET", "/healthz", "health", "liveness"),
    Route("GET", "/v1/effects", "effects", "the effect catalogue and the output formats"),
    Route("GET", "/v1/openapi.json", "openapi", "this API's OpenAPI 3.1 description"),
    Route("GET", "/v1/cutout.js", "client", "the JavaScript client (ES module, API v1)"),
    Route("POST", "/v1/jobs", "submit", "submit a photo", SubmissionRequest, identify=True),
    Route("GET", "/v1/jobs", "list_jobs", "the caller's jobs", JobListQuery, identify=True),
    Route("GET", "/v1/jobs/<job_id>", "job", "one job, polled until finished", identify=True),
    Route("GET", "/v1/batches/<batch_id>", "batch", "a batch's counts by state", identify=True),
    Route(
        "POST",
        "/v1/batches/<batch_id>/items",
        "batch_items",
        "add gs:// objects to a batch by reference",
        ReferenceBatchRequest,
        identify=True,
    ),
    Route(
        "POST",
        "/v1/batches/<batch_id>/cancel",
        "cancel_batch",
        "end a batch's queued jobs",
        identify=True,
    ),
    Route("POST", "/v1/uploads", "new_upload", "a direct-upload URL", UploadQuery, identify=True),
    Route("POST", "/v1/warm", "warm", "have a worker starting before the upload", identify=True),
    Route("POST", "/v1/scale", "scale", "the periodic backlog check (Cloud Scheduler)"),
    # remove.bg's dialect: the endpoint identifies, parses and renders its own answers
    Route(
        "POST",
        "/v1.0/removebg",
        "removebg",
        "remove.bg-compatible: remove a background, synchronously",
        render_error=removebg_error,
    ),
    Route(
        "GET",
        "/v1.0/account",
        "removebg_account",
        "remove.bg-compatible: the key's images left today as credits",
        render_error=removebg_error,
    ),
    Route(
        "GET",
        "/v1/blobs/<path:key>",
        "blob_get",
        "read by signed URL",
        SignedUrlQuery,
        serves_blobs=True,
    ),
    Route(
        "PUT",
        "/v1/blobs/<path:key>",
        "blob_put",
        "upload by signed URL",
        BlobUploadQuery,
        serves_blobs=True,
    ),
)


def route_map(routes: Iterable[Route], *, serves_blobs: bool) -> Map:
    """The URL map of ``routes``; each rule's endpoint is its :class:`Route`. Blob routes
    are left out unless the backends serve blob URLs (the cloud stores serve their own)."""
    return Map(
        [
            Rule(route.path, endpoint=route, methods=[route.method])
            for route in routes
            if serves_blobs or not route.serves_blobs
        ]
    )
