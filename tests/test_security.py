"""Attacks an outside caller would try, each refused with a clear 4xx JSON error (a swap
of a photo's bytes: its job failed ``input_changed``), and the stack healthy afterwards
(``/healthz`` 200, a new job accepted; where a worker runs, it finishes)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from PIL import Image
from werkzeug.test import Client
from werkzeug.wrappers import Request

from cutout.backends import Backends, open_backends
from cutout.integrity import content_key
from cutout.keys import KeyKind, key_pepper
from cutout.samples import jpeg_bytes, photo_like
from cutout.settings import Settings
from ingest.app import IngestApp
from tests.support.keys import add_key
from tests.support.segmenters import EllipseSegmenter
from worker.loop import Worker
from worker.segmenters import base

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


# ---- upload integrity: swap after upload, reuse of a PUT URL (cutout/integrity.py) ----


@pytest.fixture
def integrity_stack(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Client, Settings, Backends]]:
    """Ingest in-process (werkzeug's client) and a worker run on demand, one data dir."""
    monkeypatch.setitem(base.SEGMENTERS, "test-ellipse", EllipseSegmenter)
    s = settings.with_overrides(
        segmenter="test-ellipse", autoscale=False, poll_s=0.2, batch_wait_ms=50,
        idle_exit_s=1.0, retry_base_s=0.0,
    )  # fmt: skip
    app = IngestApp(s, open_backends(s))

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return app.dispatch(Request(environ))(environ, start_response)

    yield Client(wsgi), s, app.service.backends


def png(width: int, height: int, seed: int = 0) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(photo_like(width, height, seed=seed)).save(buf, "PNG")
    return buf.getvalue()


def run_worker(settings: Settings, backends: Backends) -> None:
    Worker(settings=settings, backends=backends, max_batches=1).work()


def direct_upload(client: Client, photo: bytes) -> tuple[str, str]:
    """Offer, PUT; returns (upload_id, the PUT URL's path and query)."""
    offer = client.post("/v1/uploads?content_type=image/png").get_json()
    path = offer["url"].split("127.0.0.1:8080", 1)[1]
    put = client.put(path, data=photo, headers=offer["headers"])
    assert put.status_code == 200, put.get_data(as_text=True)
    return offer["upload_id"], path


def job_of(client: Client, upload_id: str) -> dict[str, Any]:
    created = client.post("/v1/jobs", json={"upload_id": upload_id, "effects": ["color"]})
    assert created.status_code in (200, 202), created.get_data(as_text=True)
    return created.get_json()


def assert_healthy(client: Client, settings: Settings, backends: Backends) -> None:
    assert client.get("/healthz").status_code == 200
    upload_id, _ = direct_upload(client, png(40, 30, seed=99))
    job = job_of(client, upload_id)
    run_worker(settings, backends)
    assert client.get(f"/v1/jobs/{job['id']}").get_json()["state"] == "done"


def result_size(client: Client, backends: Backends, job_id: str) -> tuple[int, int]:
    job = client.get(f"/v1/jobs/{job_id}").get_json()
    key = backends.status.get(job_id).results["color"].key
    image = Image.open(io.BytesIO(backends.blobs.get(key)))
    assert image.size == (job["results"]["color"]["width"], job["results"]["color"]["height"])
    return image.size


def test_reusing_a_put_url_is_refused_and_the_job_keeps_the_first_photo(
    integrity_stack: tuple[Client, Settings, Backends],
) -> None:
    client, settings, backends = integrity_stack
    upload_id, path = direct_upload(client, png(64, 48))
    job = job_of(client, upload_id)
    again = client.put(path, data=png(80, 60, seed=1), headers={"Content-Type": "image/png"})
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "upload_used"
    assert job_of(client, upload_id)["input"]["width"] == 64  # still the first photo
    run_worker(settings, backends)
    assert result_size(client, backends, job["id"]) == (64, 48)
    assert_healthy(client, settings, backends)


def test_a_swap_after_job_creation_fails_the_job_and_the_cache_never_serves_it(
    integrity_stack: tuple[Client, Settings, Backends],
) -> None:
    """The PUT URL refuses a second photo, so the attacker (or a bug) overwrites the
    stored objects themselves: the upload's own key changes nothing, the content address
    fails the job ``input_changed``; a later honest upload of the original photo is
    computed from the original, never answered with the swapped picture."""
    client, settings, backends = integrity_stack
    original, swapped = png(64, 48), png(80, 60, seed=1)
    upload_id, _ = direct_upload(client, original)
    job = job_of(client, upload_id)
    assert job["state"] == "queued"
    backends.blobs.put(f"uploads/direct/{upload_id}", swapped, content_type="image/png")
    sha = backends.status.get(job["id"]).input.sha256
    backends.blobs.put(content_key(sha), swapped, content_type="image/png")

    run_worker(settings, backends)
    failed = client.get(f"/v1/jobs/{job['id']}").get_json()
    assert failed["state"] == "failed"
    assert failed["error"]["code"] == "input_changed"
    assert failed["results"] == {}

    honest_id, _ = direct_upload(client, original)
    honest = job_of(client, honest_id)
    assert honest["state"] == "queued", "nothing was cached from the swapped bytes"
    run_worker(settings, backends)
    assert client.get(f"/v1/jobs/{honest['id']}").get_json()["state"] == "done"
    assert result_size(client, backends, honest["id"]) == (64, 48)
    assert_healthy(client, settings, backends)
