"""Static checks of the page (ingest/static/index.html): its message table covers every
error code the OpenAPI document names, plus cutout.js's own codes, and nothing else; it
loads cutout.js from the versioned path ingest serves."""

from __future__ import annotations

import json
import re
from importlib import resources

from ingest.openapi import openapi_document
from ingest.routes import ROUTES

CLIENT_CODES = {"network", "aborted", "bad_response"}  # clients/cutout.js's own


def page() -> str:
    return resources.files("ingest").joinpath("static/index.html").read_text()


def message_table() -> dict[str, str]:
    match = re.search(r'<script type="application/json" id="messages">(.*?)</script>', page(), re.S)
    assert match, "the page has its message table"
    table: dict[str, str] = json.loads(match.group(1))
    return table


def test_every_documented_error_code_has_a_message() -> None:
    document = openapi_document(ROUTES, version="1", server="http://x")
    documented = set(document["components"]["schemas"]["ErrorCode"]["enum"])
    table = message_table()
    assert documented | CLIENT_CODES == set(table), {
        "missing": sorted(documented | CLIENT_CODES - set(table)),
        "unknown": sorted(set(table) - documented - CLIENT_CODES),
    }
    assert all(len(text) >= 8 and text.endswith(".") for text in table.values())


def test_the_page_uses_the_served_client() -> None:
    assert 'from "/v1/cutout.js"' in page()
