"""CORS at the edge (ingest/cors.py) on real local adapters: preflights, actual requests,
``Vary: Origin``, the exposed headers, the key-origin binding, and no grant for any
other origin; plus the page key (ingest/page.py) that lets the served page work with
anonymous access off."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from werkzeug.test import Client
from werkzeug.wrappers import Request

from cutout.backends import open_backends
from cutout.errors import ConfigurationError
from cutout.keys import KeyKind, key_pepper
from cutout.samples import jpeg_bytes, photo_like
from cutout.settings import Settings
from ingest.app import IngestApp
from ingest.cors import ALLOW_HEADERS, EXPOSE_HEADERS, KnownOrigins, origin_of
from tests.support.keys import add_key

SHOP = "https://shop.example"
OTHER_SHOP = "https://other-shop.example"
EVIL = "https://evil.example"
OURS = "http://127.0.0.1:8080"  # the settings fixture's public_url
LISTED = "https://admin.example"


@pytest.fixture
def app_settings(settings: Settings) -> Settings:
    return settings.with_overrides(autoscale=False, cors_origins=f" {LISTED} ,")


def client_of(app: IngestApp) -> Client:
    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return app.dispatch(Request(environ))(environ, start_response)

    return Client(wsgi)


@pytest.fixture
def client(app_settings: Settings) -> Client:
    return client_of(IngestApp(app_settings, open_backends(app_settings)))


def add(settings: Settings, kind: KeyKind, **fields: Any) -> str:
    return add_key(open_backends(settings).keys, key_pepper(settings), kind, **fields)


@pytest.fixture
def shop_key(app_settings: Settings) -> str:
    add(app_settings, KeyKind.PUBLISHABLE, allowed_origins=(OTHER_SHOP,))
    return add(app_settings, KeyKind.PUBLISHABLE, allowed_origins=(SHOP,))


def submit(client: Client, origin: str | None, key: str | None) -> Any:
    headers = {"Origin": origin} if origin else {}
    if key:
        headers["X-Api-Key"] = key
    photo = jpeg_bytes(photo_like(64, 48))
    return client.post("/v1/jobs", data={"file": (io.BytesIO(photo), "p.jpg")}, headers=headers)


def preflight(client: Client, origin: str, path: str = "/v1/jobs") -> Any:
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key,idempotency-key",
        },
    )


def test_a_preflight_is_granted_to_a_key_origin_and_ours(client: Client, shop_key: str) -> None:
    for origin in (SHOP, OTHER_SHOP, OURS, LISTED):
        answer = preflight(client, origin)
        assert answer.status_code == 204, origin
        assert answer.headers["Access-Control-Allow-Origin"] == origin
        assert "POST" in answer.headers["Access-Control-Allow-Methods"]
        allowed = {
            h.strip().lower() for h in answer.headers["Access-Control-Allow-Headers"].split(",")
        }
        assert {"content-type", "authorization", "x-api-key", "idempotency-key"} <= allowed
        assert "Origin" in answer.headers["Vary"]
        assert "Access-Control-Allow-Credentials" not in answer.headers


def test_a_preflight_from_any_other_origin_gets_no_grant(client: Client, shop_key: str) -> None:
    answer = preflight(client, EVIL)
    assert answer.status_code == 403
    assert answer.json["error"]["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in answer.headers
    assert "Origin" in answer.headers["Vary"]


def test_a_publishable_key_from_its_origin_is_granted_and_exposes_headers(
    client: Client, shop_key: str
) -> None:
    answer = submit(client, SHOP, shop_key)
    assert answer.status_code == 202, answer.json
    assert answer.headers["Access-Control-Allow-Origin"] == SHOP
    exposed = {h.strip() for h in answer.headers["Access-Control-Expose-Headers"].split(",")}
    assert exposed == {h.strip() for h in EXPOSE_HEADERS.split(",")}
    assert {"Location", "Retry-After", "X-RateLimit-Remaining"} <= exposed
    assert "Origin" in answer.headers["Vary"]
    poll = client.get(answer.headers["Location"], headers={"Origin": SHOP, "X-Api-Key": shop_key})
    assert poll.status_code == 200
    assert poll.headers["Access-Control-Allow-Origin"] == SHOP


@pytest.mark.parametrize("origin", [OTHER_SHOP, EVIL, OURS, None])
def test_a_publishable_key_is_refused_from_any_origin_but_its_own(
    client: Client, shop_key: str, origin: str | None
) -> None:
    answer = submit(client, origin, shop_key)
    assert answer.status_code == 403
    assert answer.json["error"]["code"] == "origin_not_allowed"
    assert SHOP in answer.json["error"]["message"]
    assert "Access-Control-Allow-Origin" not in answer.headers


def test_a_secret_key_is_refused_from_any_web_page(client: Client, app_settings: Settings) -> None:
    secret = add(app_settings, KeyKind.SECRET)
    answer = submit(client, OURS, secret)
    assert answer.status_code == 403
    assert answer.json["error"]["code"] == "secret_key_in_browser"
    assert submit(client, None, secret).status_code == 202  # servers send no Origin


def test_anonymous_callers_are_accepted_only_from_our_own_origins(
    client: Client, shop_key: str
) -> None:
    # public_url's, the deployment list's, and the request's own (werkzeug's test host)
    for origin in (OURS, LISTED, "http://localhost"):
        answer = submit(client, origin, None)
        assert answer.status_code == 202, (origin, answer.json)
        assert answer.headers["Access-Control-Allow-Origin"] == origin
    shop = submit(client, SHOP, None)  # a shop's page must send its key
    assert shop.status_code == 403
    assert shop.json["error"]["code"] == "origin_not_allowed"
    assert submit(client, None, None).status_code == 202  # curl, the CLI


def test_unknown_origins_are_refused_everywhere_with_vary(client: Client) -> None:
    for path in ("/healthz", "/v1/effects", "/v1/jobs/0123456789abcdef0123456789abcdef"):
        answer = client.get(path, headers={"Origin": EVIL})
        assert answer.status_code == 403, path
        assert answer.json["error"]["code"] == "origin_not_allowed"
        assert "Access-Control-Allow-Origin" not in answer.headers
        assert "Origin" in client.get(path).headers["Vary"]
    warm = client.post("/v1/warm", headers={"Origin": EVIL})
    assert warm.status_code == 403


def test_a_new_key_origin_is_known_within_the_ttl(settings: Settings) -> None:
    now = [0.0]
    loads: list[int] = []
    origins = {SHOP}

    def load() -> set[str]:
        loads.append(1)
        return set(origins)

    known = KnownOrigins(load, ttl_s=5, clock=lambda: now[0])
    assert SHOP in known and EVIL not in known and EVIL not in known
    assert len(loads) == 1  # a flood of foreign origins costs one read per TTL
    origins.add(EVIL)
    now[0] = 4.9
    assert EVIL not in known
    now[0] = 5.0
    assert EVIL in known
    assert len(loads) == 2


def test_bad_deployment_origins_stop_ingest_at_start(settings: Settings) -> None:
    bad = settings.with_overrides(cors_origins="https://shop.example/path")
    with pytest.raises(ConfigurationError, match="CUTOUT_CORS_ORIGINS"):
        IngestApp(bad, open_backends(bad))


def test_origin_of_a_url() -> None:
    assert origin_of("https://Cutout.Example:443/base/") == "https://cutout.example"
    assert origin_of("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert origin_of("http://host:8080/") == "http://host:8080"
    assert "Idempotency-Key" in ALLOW_HEADERS


# ---- the page key -----------------------------------------------------------------


PAGE_KEY = "pk_live_0123456789ab_" + "s" * 43


def test_the_page_key_is_created_bound_to_our_origin_and_sent_by_the_page(
    settings: Settings,
) -> None:
    gcp_like = settings.with_overrides(allow_anonymous=False, page_key=PAGE_KEY)
    client = client_of(IngestApp(gcp_like, open_backends(gcp_like)))
    record = open_backends(gcp_like).keys.get("0123456789ab")
    assert record.kind is KeyKind.PUBLISHABLE and record.allowed_origins == (OURS,)
    page = client.get("/").get_data(as_text=True)
    assert f'<meta name="cutout-key" content="{PAGE_KEY}">' in page
    assert submit(client, OURS, PAGE_KEY).status_code == 202
    assert submit(client, OURS, None).json["error"]["code"] == "missing_api_key"
    assert submit(client, SHOP, PAGE_KEY).status_code == 403
    IngestApp(gcp_like, open_backends(gcp_like))  # a second instance finds the record


def test_a_wrong_page_key_stops_ingest_at_start(settings: Settings) -> None:
    for token in ("sk_live_0123456789ab_" + "s" * 43, "nonsense"):
        bad = settings.with_overrides(page_key=token)
        with pytest.raises(ConfigurationError, match="publishable"):
            IngestApp(bad, open_backends(bad))
    first = settings.with_overrides(page_key=PAGE_KEY)
    IngestApp(first, open_backends(first))
    moved = first.with_overrides(public_url="https://cutout.example")
    with pytest.raises(ConfigurationError, match="bound to"):
        IngestApp(moved, open_backends(moved))


def test_locally_the_page_has_no_key(client: Client) -> None:
    assert '<meta name="cutout-key" content="">' in client.get("/").get_data(as_text=True)
