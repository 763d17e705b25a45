"""Attacks an outside caller would try, each refused with a clear 4xx JSON error, and
the stack healthy afterwards (``/healthz`` 200, a new job accepted)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from werkzeug.test import Client
from werkzeug.wrappers import Request

from cutout.backends import open_backends
from cutout.keys import KeyKind, key_pepper
from cutout.samples import jpeg_bytes, photo_like
from cutout.settings import Settings
from ingest.app import IngestApp
from tests.support.keys import add_key

# ---- CORS and origins (ingest/cors.py) -----------------------------------------------

SHOP = "https://shop.example"
FOREIGN = "https://attacker.example"


@pytest.fixture
def cors_app(settings: Settings) -> IngestApp:
    return IngestApp(settings.with_overrides(autoscale=False), open_backends(settings))


@pytest.fixture
def cors_client(cors_app: IngestApp) -> Client:
    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return cors_app.dispatch(Request(environ))(environ, start_response)

    return Client(wsgi)


def _photo_post(client: Client, headers: dict[str, str]) -> Any:
    photo = jpeg_bytes(photo_like(64, 48))
    return client.post("/v1/jobs", data={"file": (io.BytesIO(photo), "p.jpg")}, headers=headers)


def _still_healthy(client: Client) -> None:
    assert client.get("/healthz").status_code == 200
    assert _photo_post(client, {}).status_code == 202


def test_attack_a_foreign_origin_is_refused_and_gets_no_grant(cors_client: Client) -> None:
    """A page on an origin we do not know drives a visitor's browser at the API: its
    preflight gets no grant, and its simple requests (a form POST needs no preflight)
    are refused before anything runs, so it cannot even create jobs blind."""
    preflight = cors_client.options(
        "/v1/jobs", headers={"Origin": FOREIGN, "Access-Control-Request-Method": "POST"}
    )
    blind = _photo_post(cors_client, {"Origin": FOREIGN})
    for answer in (preflight, blind):
        assert answer.status_code == 403
        assert answer.json["error"]["code"] == "origin_not_allowed"
        assert "Access-Control-Allow-Origin" not in answer.headers
        assert "Origin" in answer.headers["Vary"]
    _still_healthy(cors_client)


def test_attack_a_publishable_key_used_from_a_foreign_origin(
    cors_client: Client, settings: Settings
) -> None:
    """A shop's publishable key is public (it is in the shop's page); another site
    copying it is refused, and so is a secret key sent from any web page."""
    pepper = key_pepper(settings)
    store = open_backends(settings).keys
    shop_key = add_key(store, pepper, KeyKind.PUBLISHABLE, allowed_origins=(SHOP,))
    stolen = _photo_post(cors_client, {"Origin": FOREIGN, "X-Api-Key": shop_key})
    assert stolen.status_code == 403
    assert stolen.json["error"]["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in stolen.headers
    secret = add_key(store, pepper, KeyKind.SECRET)
    leaked = _photo_post(cors_client, {"Origin": SHOP, "Authorization": f"Bearer {secret}"})
    assert leaked.status_code == 403
    assert leaked.json["error"]["code"] == "secret_key_in_browser"
    assert _photo_post(cors_client, {"Origin": SHOP, "X-Api-Key": shop_key}).status_code == 202
    _still_healthy(cors_client)
