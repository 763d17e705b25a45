"""The OpenAPI 3.1 description of the HTTP API, generated from the route table
(ingest/routes.py), the request models (ingest/models.py) and the error-code catalogue
(cutout/codes.py): nothing here lists a route, a field or a code by hand, so the
document cannot fall behind the code (tests/test_openapi.py validates it and checks
that every route and every code is in it).

Each route's error body is whatever its renderer writes: the schema is derived from the
body the renderer makes for a sample error, with the code's place typed as
``ErrorCode`` (every code the service can answer, or record in a job).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from cutout.codes import ErrorCode
from ingest.errors import ApiError, ErrorRenderer
from ingest.routes import Route

OPENAPI_VERSION = "3.1.0"
_SAMPLE_CODE = "\x00code"
_PATH_ARGUMENT = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")
_BODY_TYPES = ("multipart/form-data", "application/json")
_SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}, {}]


def openapi_document(routes: Iterable[Route], *, version: str, server: str) -> dict[str, Any]:
    """The whole document; ``server`` is the public URL the API is reached at."""
    schemas: dict[str, Any] = {
        "ErrorCode": {"type": "string", "enum": [c.value for c in ErrorCode]},
    }
    paths: dict[str, dict[str, Any]] = {}
    routes = tuple(routes)
    shared = {e for e, n in Counter(r.endpoint for r in routes).items() if n > 1}
    for route in routes:
        path = _PATH_ARGUMENT.sub(r"{\1}", route.path)
        operation = _operation(route, schemas)
        if route.endpoint in shared:  # operation ids must be unique: add the path
            slug = re.sub(r"[^a-z0-9]+", "_", path.lower()).strip("_")
            operation["operationId"] = f"{route.endpoint}__{slug}"
        paths.setdefault(path, {})[route.method.lower()] = operation
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "cutout",
            "version": version,
            "description": "Background removal for photos: submit, poll, fetch results.",
        },
        "servers": [{"url": server}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }


def _operation(route: Route, schemas: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": route.endpoint,
        "summary": route.summary,
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PATH_ARGUMENT.findall(route.path)
        ],
        "responses": {
            "2XX": {"description": "success"},
            "default": {
                "description": "an error",
                "content": {"application/json": {"schema": _error_schema(route.render_error)}},
            },
        },
    }
    if route.identify:
        operation["security"] = _SECURITY
    model = route.request
    if model is None:
        return operation
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    if model.location == "body":
        schemas[model.__name__] = schema
        ref = {"$ref": f"#/components/schemas/{model.__name__}"}
        operation["requestBody"] = {
            "required": True,
            "content": {media: {"schema": ref} for media in _BODY_TYPES},
        }
        return operation
    required = set(schema.get("required", []))
    for name, field in schema.get("properties", {}).items():
        operation["parameters"].append(
            {"name": name, "in": "query", "required": name in required, "schema": field}
        )
    return operation


def _error_schema(render: ErrorRenderer) -> dict[str, Any]:
    return _schema_of(render(ApiError(400, _SAMPLE_CODE, "what went wrong")))


def _schema_of(sample: Any) -> dict[str, Any]:
    """A JSON schema for values shaped like ``sample``; the sample code becomes ErrorCode."""
    if sample == _SAMPLE_CODE:
        return {"$ref": "#/components/schemas/ErrorCode"}
    if isinstance(sample, dict):
        return {
            "type": "object",
            "properties": {k: _schema_of(v) for k, v in sample.items()},
            "required": list(sample),
        }
    if isinstance(sample, list):
        return {"type": "array", "items": _schema_of(sample[0]) if sample else {}}
    if isinstance(sample, bool):
        return {"type": "boolean"}
    if isinstance(sample, int | float):
        return {"type": "number"}
    return {"type": "string"}
