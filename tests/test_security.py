"""One test per attack on a running local stack (``cutout up``, as an outside caller
would try it): each is refused with a clear 4xx JSON error, and afterwards the stack is
healthy — ``/healthz`` answers 200 and a new job finishes.

Sections, one per helper's attacks, so that appends merge cleanly: tenancy and
visibility; quotas, warm and shedding; forwarded headers; bodies and blob URLs (these on
``cutout up``); CORS and origins, and upload integrity (a swap of a photo's bytes: its
job fails ``input_changed``), in-process with a worker run on demand. Append a new
section at the end with its own heading comment.
"""

from __future__ import annotations

import http.client
import io
import json
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from PIL import Image
from werkzeug.test import Client
from werkzeug.wrappers import Request

from cutout.backends import Backends, open_backends
from cutout.integrity import content_key
from cutout.keys import KeyKind, Quotas, key_pepper
from cutout.samples import jpeg_bytes, photo_like
from cutout.settings import Settings
from ingest.app import IngestApp
from tests.support.keys import add_key
from tests.support.pipeline import Pipeline, run_pipeline
from tests.support.segmenters import EllipseSegmenter
from worker.loop import Worker
from worker.segmenters import base

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
SHOP_ORIGIN = "https://shop.example"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """One stack for the module; small upload limit, and a batch backlog bound of 1 so
    the shedding attack needs only a few jobs."""
    env = {"CUTOUT_MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES), "CUTOUT_BACKLOG_BOUND_BATCH": "1"}
    yield from run_pipeline(tmp_path_factory.mktemp("security"), env)


def mint(stack: Pipeline, kind: KeyKind = KeyKind.SECRET, **fields: Any) -> dict[str, str]:
    """A new key in the stack's own key store; the headers that present it."""
    settings = Settings(data_dir=stack.data)
    token = add_key(open_backends(settings).keys, key_pepper(settings), kind, **fields)
    headers = {"Authorization": f"Bearer {token}"}
    if kind is KeyKind.PUBLISHABLE:
        headers["Origin"] = SHOP_ORIGIN
    return headers


def publishable(stack: Pipeline) -> dict[str, str]:
    return mint(stack, KeyKind.PUBLISHABLE, allowed_origins=(SHOP_ORIGIN,))


def small_png(seed: int | None = None) -> bytes:
    """A small photo; distinct bytes per ``seed`` (a new upload, never a cache hit)."""
    pixels = photo_like(48, 40).copy()
    stamp = seed if seed is not None else uuid.uuid4().int
    pixels[0, :8] = [[(stamp >> (8 * i + c)) & 0xFF for c in range(3)] for i in range(8)]
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


def submit(stack: Pipeline, headers: dict[str, str] | None = None, **data: str) -> Any:
    return requests.post(
        f"{stack.url}/v1/jobs",
        files={"file": ("p.png", small_png(), "image/png")},
        data=data,
        headers=headers,
        timeout=30,
    )


def refused(response: Any, status: int, code: str) -> dict[str, Any]:
    """Assert a clear 4xx/503 JSON refusal; returns the error."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    assert error["message"]
    return error


def assert_stack_healthy(stack: Pipeline) -> None:
    """``/healthz`` answers 200 and a new job (the local key's: no quota in the way)
    finishes."""
    assert requests.get(f"{stack.url}/healthz", timeout=10).status_code == 200
    auth = stack.local_key()
    response = submit(stack, auth)
    assert response.status_code == 202, response.text
    assert stack.wait_done(response.json()["id"], headers=auth)["state"] == "done"


def raw(stack: Pipeline, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    """A request whose path is sent exactly as written (no client-side normalising)."""
    port = urlsplit(stack.url).port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, **kwargs.pop("conn", {}))
    conn.request(method, path, **kwargs)
    response = conn.getresponse()
    body = json.loads(response.read() or b"{}")
    conn.close()
    return response.status, body


# ---- tenancy and visibility ---------------------------------------------------------


def test_listing_as_a_stranger_is_refused(stack: Pipeline) -> None:
    owner = mint(stack)
    job_id = submit(stack, owner).json()["id"]
    anonymous = requests.get(f"{stack.url}/v1/jobs", timeout=10)
    refused(anonymous, 403, "listing_needs_secret_key")
    browser = requests.get(f"{stack.url}/v1/jobs", headers=publishable(stack), timeout=10)
    refused(browser, 403, "listing_needs_secret_key")
    stranger = requests.get(f"{stack.url}/v1/jobs", headers=mint(stack), timeout=10)
    assert stranger.status_code == 200
    assert stranger.json() == {"jobs": [], "next_cursor": None}
    mine = requests.get(f"{stack.url}/v1/jobs", headers=owner, timeout=10).json()
    assert [j["id"] for j in mine["jobs"]] == [job_id]
    assert_stack_healthy(stack)


def test_reading_another_keys_job_is_the_same_404_as_a_missing_one(stack: Pipeline) -> None:
    job_id = submit(stack, mint(stack)).json()["id"]
    other = mint(stack)
    theirs = requests.get(f"{stack.url}/v1/jobs/{job_id}", headers=other, timeout=10)
    missing = requests.get(f"{stack.url}/v1/jobs/{uuid.uuid4().hex}", headers=other, timeout=10)
    refused(theirs, 404, "job_not_found")
    refused(missing, 404, "job_not_found")
    by_id = requests.get(f"{stack.url}/v1/jobs/{job_id}", headers=publishable(stack), timeout=10)
    assert by_id.status_code == 200  # a browser reads by the unguessable id
    assert_stack_healthy(stack)


def test_idempotency_keys_of_two_anonymous_clients_never_collide(stack: Pipeline) -> None:
    """Two clients (127.0.0.1 and 127.0.0.2) pick the same key for different photos:
    each gets its own job; only the same client reusing it is a conflict."""
    key = f"order-{uuid.uuid4().hex[:8]}"

    def post(source: str, photo: bytes) -> tuple[int, dict[str, Any]]:
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.png"'
                f"\r\nContent-Type: image/png\r\n\r\n"
            ).encode()
            + photo
            + f"\r\n--{boundary}--\r\n".encode()
        )
        headers = {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Idempotency-Key": key,
        }
        return raw(stack, "POST", "/v1/jobs", body=body, headers=headers,
                   conn={"source_address": (source, 0)})  # fmt: skip

    first_status, first = post("127.0.0.1", small_png(1))
    second_status, second = post("127.0.0.2", small_png(2))
    assert (first_status, second_status) == (202, 202), (first, second)
    assert first["id"] != second["id"]
    again_status, again = post("127.0.0.1", small_png(2))
    assert (again_status, again["error"]["code"]) == (409, "idempotency_conflict")
    assert_stack_healthy(stack)


def test_an_idempotent_job_id_cannot_be_computed_without_the_server_secret() -> None:
    """Ids are read capabilities: knowing the tenant and its Idempotency-Key is not enough
    to derive one (the id is keyed with the server's pepper)."""
    from cutout.job import _digest, idempotent_job_id

    tenant, key = "anon:127.0.0.1", "order-18"
    ours = idempotent_job_id(b"server secret", tenant, key)
    assert ours == idempotent_job_id(b"server secret", tenant, key)  # stable: replays collide
    assert ours != idempotent_job_id(b"another secret", tenant, key)
    assert ours != _digest({"client": tenant, "idempotency_key": key})[:32]  # the old scheme


# ---- quotas, warm and shedding ------------------------------------------------------


def test_a_spent_quota_is_429_with_retry_after_and_rate_limit_headers(stack: Pipeline) -> None:
    key = mint(stack, quotas=Quotas(requests_per_minute=3))
    answers = [requests.get(f"{stack.url}/v1/jobs", headers=key, timeout=10) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers[:3]] == ["2", "1", "0"]
    error = refused(answers[3], 429, "rate_limited")
    assert "3 requests per minute" in error["message"]
    limited = answers[3].headers
    assert limited["X-RateLimit-Limit"] == "3" and limited["X-RateLimit-Remaining"] == "0"
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert int(limited["X-RateLimit-Reset"]) >= int(time.time())
    assert_stack_healthy(stack)


def test_errors_carry_the_rate_limit_headers_too(stack: Pipeline) -> None:
    response = requests.get(f"{stack.url}/v1/jobs/{uuid.uuid4().hex}", headers=mint(stack))
    refused(response, 404, "job_not_found")
    assert response.headers["X-RateLimit-Limit"] == str(Settings().quota_secret_requests_per_minute)


def test_a_warm_flood_is_limited_and_starts_at_most_one_worker(stack: Pipeline) -> None:
    key = publishable(stack)
    per_minute = Settings().quota_warm_per_minute
    answers = [
        requests.post(f"{stack.url}/v1/warm", headers=key, timeout=10)
        for _ in range(per_minute + 1)
    ]
    assert [a.status_code for a in answers] == [200] * per_minute + [429]
    refused(answers[-1], 429, "rate_limited")
    assert "warm calls per minute" in answers[-1].json()["error"]["message"]
    assert "Retry-After" in answers[-1].headers
    bodies = [a.json() for a in answers[:-1]]
    assert sum(b["started"] for b in bodies) <= 1
    assert all(b["already_warm"] for b in bodies[1:])
    assert_stack_healthy(stack)


#: Batch submissions sent at once by the flood test.
FLOOD = 8


def test_a_batch_flood_is_shed_with_503_and_nothing_accepted_is_lost(stack: Pipeline) -> None:
    """A flood is concurrent: one submission at a time may finish before the next arrives
    (an idle worker starts a lone job at once), eight at a time overrun the bound of 1."""
    auth = stack.local_key()
    accepted: list[str] = []
    shed: list[Any] = []
    deadline = time.monotonic() + 60
    with ThreadPoolExecutor(FLOOD) as pool:
        while not shed:
            assert time.monotonic() < deadline, "the batch backlog bound never shed a job"
            for response in pool.map(lambda _: submit(stack, auth, priority="batch"), range(FLOOD)):
                if response.status_code == 202:
                    accepted.append(response.json()["id"])
                else:
                    shed.append(response)
    for response in shed:
        error = refused(response, 503, "overloaded")
        assert "batch tier is overloaded" in error["message"]
        assert 1 <= int(response.headers["Retry-After"]) <= 300
    standard = submit(stack, auth)  # batch sheds first: standard is still admitted
    assert standard.status_code == 202, standard.text
    for job_id in [*accepted, standard.json()["id"]]:
        assert stack.wait_done(job_id, headers=auth)["state"] == "done"
    assert_stack_healthy(stack)


# ---- forwarded headers --------------------------------------------------------------


def test_a_spoofed_x_forwarded_for_is_ignored_with_no_trusted_hops(stack: Pipeline) -> None:
    """Locally no proxy is trusted: a client naming another address in X-Forwarded-For
    is still itself — the same quota counter, the same idempotency scope."""
    key = f"spoof-{uuid.uuid4().hex[:8]}"
    first = submit(stack, {"Idempotency-Key": key})
    spoofed = submit(stack, {"Idempotency-Key": key, "X-Forwarded-For": "203.0.113.7"})
    assert first.status_code == 202, first.text
    refused(spoofed, 409, "idempotency_conflict")
    assert int(spoofed.headers["X-RateLimit-Remaining"]) < int(
        first.headers["X-RateLimit-Remaining"]
    )
    assert_stack_healthy(stack)


# ---- bodies and blob URLs -----------------------------------------------------------


def test_an_oversized_body_is_413(stack: Pipeline) -> None:
    big = b"\xff" * (MAX_UPLOAD_BYTES + 128 * 1024)
    response = requests.post(
        f"{stack.url}/v1/jobs", files={"file": ("big.jpg", big, "image/jpeg")}, timeout=30
    )
    refused(response, 413, "too_large")
    assert_stack_healthy(stack)


def test_a_tampered_result_url_is_refused(stack: Pipeline) -> None:
    auth = stack.local_key()
    job = stack.wait_done(submit(stack, auth).json()["id"], headers=auth)
    url = job["results"]["color"]["url"]
    assert requests.get(url, timeout=10).status_code == 200
    flipped = url[:-1] + ("0" if url[-1] != "0" else "1")
    refused(requests.get(flipped, timeout=10), 403, "bad_signature")
    parts = urlsplit(url)
    other_key = parts.path.rsplit("/", 1)[0] + "/someone-elses.png"
    elsewhere = f"{parts.scheme}://{parts.netloc}{other_key}?{parts.query}"
    refused(requests.get(elsewhere, timeout=10), 403, "bad_signature")
    assert_stack_healthy(stack)


def test_path_traversal_in_blob_keys_is_refused(stack: Pipeline) -> None:
    auth = stack.local_key()
    job = stack.wait_done(submit(stack, auth).json()["id"], headers=auth)
    query = urlsplit(job["results"]["color"]["url"]).query
    for path in ("/v1/blobs/../cutout.db", "/v1/blobs/results/..%2F..%2Fcutout.db"):
        status, body = raw(stack, "GET", f"{path}?{query}")
        assert 400 <= status < 500 and body["error"]["code"], (path, status, body)
    status, body = raw(stack, "PUT", f"/v1/blobs/uploads/../../key-pepper?{query}", body=b"x")
    assert 400 <= status < 500 and body["error"]["code"], (status, body)
    traversal = requests.post(
        f"{stack.url}/v1/jobs", json={"upload_id": "../../cutout.db"}, headers=auth, timeout=10
    )
    refused(traversal, 400, "invalid_upload_id")
    assert_stack_healthy(stack)


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
