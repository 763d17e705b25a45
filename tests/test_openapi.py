"""The OpenAPI 3.1 document ingest serves at ``GET /v1/openapi.json``: generated from the
route table and the request models, valid by openapi-spec-validator, and complete: every
route and every error code in the code is in it (so a new route or code cannot be left
out of the description)."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from cutout.backends import open_backends
from cutout.codes import ErrorCode
from cutout.settings import Settings
from ingest.app import IngestApp
from ingest.openapi import openapi_document
from ingest.routes import ROUTES, Route
from tests.test_ingest_routes import errors_list_body, wsgi_client


@pytest.fixture
def document(settings: Settings) -> dict[str, Any]:
    app = IngestApp(settings, open_backends(settings))
    answer = wsgi_client(app).get("/v1/openapi.json")
    assert answer.status_code == 200
    body: dict[str, Any] = answer.get_json()
    return body


def test_the_served_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"] == "3.1.0"


def test_every_route_in_the_table_is_in_the_document(document: dict[str, Any]) -> None:
    for route in ROUTES:
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", route.path)
        assert route.method.lower() in document["paths"].get(path, {}), (route.method, path)
        assert document["paths"][path][route.method.lower()]["operationId"].startswith(
            route.endpoint
        )


def test_every_error_code_is_in_the_document(document: dict[str, Any]) -> None:
    documented = set(document["components"]["schemas"]["ErrorCode"]["enum"])
    assert {code.value for code in ErrorCode} <= documented


def test_request_fields_come_from_the_models(document: dict[str, Any]) -> None:
    submit = document["paths"]["/v1/jobs"]["post"]
    body = submit["requestBody"]["content"]["multipart/form-data"]["schema"]
    schema = document["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    assert {"file", "effects", "params", "format", "priority", "upload_id"} <= set(
        schema["properties"]
    )
    listing = document["paths"]["/v1/jobs"]["get"]["parameters"]
    limit = next(p for p in listing if p["name"] == "limit")
    assert limit["in"] == "query" and limit["schema"]["maximum"] == 1000
    assert {"bearer": []} in submit["security"]


def test_a_route_with_its_own_error_body_is_described_with_it() -> None:
    foreign = dataclasses.replace(
        Route("GET", "/other-api/jobs/<job_id>", "job", "another API's dialect"),
        render_error=errors_list_body,
    )
    doc = openapi_document((*ROUTES, foreign), version="1", server="http://x")
    validate(doc)  # type: ignore[arg-type]
    errors = doc["paths"]["/other-api/jobs/{job_id}"]["get"]["responses"]["default"]
    schema = errors["content"]["application/json"]["schema"]
    item = schema["properties"]["errors"]["items"]
    assert item["properties"]["code"] == {"$ref": "#/components/schemas/ErrorCode"}
    assert set(item["required"]) == {"title", "code", "detail"}


def test_the_validator_rejects_a_broken_document(document: dict[str, Any]) -> None:
    """The validator is not a rubber stamp: a document without its info fails it."""
    broken = {k: v for k, v in document.items() if k != "info"}
    with pytest.raises(OpenAPIValidationError):
        validate(broken)
