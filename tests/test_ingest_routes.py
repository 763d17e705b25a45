"""The route table and the error policy at the edge: every route has its handler, a route
can answer errors in its own format, and blob routes exist only where the backends serve
blob URLs. Real local adapters throughout."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client
from werkzeug.wrappers import Request

import ingest
from cutout.backends import open_backends
from cutout.settings import Settings
from ingest.app import IngestApp
from ingest.errors import ApiError
from ingest.models import RequestModel
from ingest.routes import ROUTES, Route


def wsgi_client(app: IngestApp) -> Client:
    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return app.dispatch(Request(environ))(environ, start_response)

    return Client(wsgi)


def errors_list_body(error: ApiError) -> dict[str, Any]:
    """remove.bg's error format, as a route imitating that API would answer."""
    return {"errors": [{"title": error.message, "code": error.code, "detail": error.message}]}


@pytest.fixture
def local_settings(settings: Settings) -> Settings:
    return settings.with_overrides(autoscale=False)


def test_every_route_has_a_handler_and_a_request_model_or_none() -> None:
    for route in ROUTES:
        assert callable(getattr(IngestApp, f"on_{route.endpoint}")), route.endpoint
        assert route.request is None or issubclass(route.request, RequestModel)
        assert route.request is None or route.request.model_json_schema()["properties"]
        assert route.summary
    assert len({(r.method, r.path) for r in ROUTES}) == len(ROUTES)


def test_a_route_can_answer_errors_in_its_own_format(local_settings: Settings) -> None:
    foreign = Route(
        "GET", "/other-api/jobs/<job_id>", "job", "a job, in another API's dialect", identify=True
    )
    foreign = dataclasses.replace(foreign, render_error=errors_list_body)
    app = IngestApp(local_settings, open_backends(local_settings), routes=(*ROUTES, foreign))
    client = wsgi_client(app)

    theirs = client.get("/other-api/jobs/nope")
    assert theirs.status_code == 404
    [error] = theirs.get_json()["errors"]
    assert error["code"] == "job_not_found"
    assert "nope" in error["detail"]

    ours = client.get("/v1/jobs/nope")
    assert ours.status_code == 404
    assert ours.get_json() == {"error": {"code": "job_not_found", "message": error["detail"]}}
    unrouted = client.get("/other-api/nothing")
    assert unrouted.get_json()["error"]["code"] == "route_not_found"  # no route: ours


def test_a_parse_error_is_rendered_by_the_route_too(local_settings: Settings) -> None:
    listing = next(r for r in ROUTES if r.endpoint == "list_jobs")
    foreign = dataclasses.replace(listing, path="/other-api/jobs", render_error=errors_list_body)
    app = IngestApp(local_settings, open_backends(local_settings), routes=(foreign,))
    response = wsgi_client(app).get("/other-api/jobs?limit=0")
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["code"] == "invalid_query"


def test_without_blob_routes_in_the_backends_the_blob_urls_do_not_exist(
    local_settings: Settings,
) -> None:
    backends = dataclasses.replace(open_backends(local_settings), blob_routes=None)
    app = IngestApp(local_settings, backends)
    client = wsgi_client(app)
    for send in (client.get, client.put):
        response = send("/v1/blobs/uploads/x?expires=1&sig=00")
        assert (response.status_code, response.get_json()["error"]["code"]) == (
            404,
            "route_not_found",
        )
    assert client.get("/healthz").status_code == 200


def test_an_unexpected_exception_is_a_logged_500_without_details(
    local_settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    app = IngestApp(local_settings, open_backends(local_settings))

    def broken(job_id: str) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(app.service, "get", broken)
    response = wsgi_client(app).get("/v1/jobs/abc")
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "internal"
    assert "secret" not in response.get_data(as_text=True)
    assert "secret internals" in caplog.text


def test_ingest_never_imports_an_adapter_family() -> None:
    """Ingest reaches adapters only through Backends (blob URLs through BlobRoutes)."""
    sources = Path(ingest.__file__).parent.glob("*.py")
    offenders = [p.name for p in sources if re.search(r"cutout\.(local|gcp)\b", p.read_text())]
    assert offenders == []
