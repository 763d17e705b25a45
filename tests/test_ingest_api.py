"""The ingest HTTP API on real local adapters: good requests, and every bad input getting
its own 4xx code with a JSON body — while ingest keeps serving and no job is created."""

from __future__ import annotations

import io
import json
import struct
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from PIL import Image
from urllib3 import encode_multipart_formdata
from werkzeug.test import Client
from werkzeug.wrappers import Request

from cutout.backends import open_backends
from cutout.job import JobState, Priority
from cutout.keys import key_pepper
from cutout.samples import jpeg_bytes, photo_like
from cutout.settings import Settings
from ingest.app import IngestApp
from tests.support.keys import add_key


@pytest.fixture
def app_settings(settings: Settings) -> Settings:
    return settings.with_overrides(
        max_upload_bytes=2 * 1024 * 1024,
        max_pixels=4_000_000,
        max_effects=3,
        autoscale=False,  # scaling has its own tests (test_scaling.py)
    )


@pytest.fixture
def app(app_settings: Settings) -> IngestApp:
    return IngestApp(app_settings, open_backends(app_settings))


@pytest.fixture
def shop_key(app_settings: Settings) -> str:
    """A secret key of tier high, in the app's key store."""
    return add_key(open_backends(app_settings).keys, key_pepper(app_settings), tier=Priority.HIGH)


@pytest.fixture
def client(app: IngestApp) -> Client:
    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return app.dispatch(Request(environ))(environ, start_response)

    return Client(wsgi)


def png(width: int = 64, height: int = 48) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(photo_like(width, height)).save(buf, "PNG")
    return buf.getvalue()


def post(client: Client, data: bytes | None = b"", **fields: Any) -> Any:
    """POST /v1/jobs encoded the way browsers and ``requests`` encode forms (urllib3)."""
    headers = fields.pop("headers", {})
    form: list[tuple[str, Any]] = [(k, v) for k, v in fields.items()]
    if data is not None:
        form.append(("file", ("photo.bin", data, "application/octet-stream")))
    body, content_type = encode_multipart_formdata(form)
    return client.post("/v1/jobs", data=body, headers={"Content-Type": content_type, **headers})


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bomb_png() -> bytes:
    """A 100 000 x 100 000 PNG header in a few hundred bytes."""
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 100_001)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def corrupt_png() -> bytes:
    data = bytearray(png())
    data[len(data) // 2] ^= 0xFF
    return bytes(data)


def test_submit_returns_202_with_location_and_poll_url(client: Client, app: IngestApp) -> None:
    response = post(client, png(), effects="color")
    assert response.status_code == 202
    body = response.get_json()
    assert response.headers["Location"] == f"/v1/jobs/{body['id']}"
    assert body["poll_url"].endswith(response.headers["Location"])
    assert response.headers["Retry-After"] == "1"
    assert body["state"] == "queued"
    assert body["input"] == {"width": 64, "height": 48, "format": "PNG", "bytes": len(png())}
    assert body["effects"] == [{"name": "color", "params": {}}]

    polled = client.get(response.headers["Location"])
    assert polled.status_code == 200
    assert polled.get_json()["id"] == body["id"]
    assert "Retry-After" in polled.headers
    messages = app.service.backends.queue.pull(10, wait_s=0)
    assert [m.job_id for m in messages] == [body["id"]]


def test_defaults_to_the_cutout_effect_and_png(client: Client) -> None:
    body = post(client, png()).get_json()
    assert [e["name"] for e in body["effects"]] == ["color"]
    assert body["output"]["format"] == "png"
    assert body["priority"] == "standard"


def test_big_phone_photo_under_the_limit_is_accepted(client: Client) -> None:
    photo = jpeg_bytes(photo_like(2300, 1700), quality=70)  # 3.9 MP, limit is 4 MP
    assert post(client, photo).status_code == 202


def test_same_idempotency_key_and_body_gives_the_same_job(client: Client) -> None:
    headers = {"Idempotency-Key": "order-17"}
    first = post(client, png(), effects="color", headers=headers)
    second = post(client, png(), effects="color", headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.get_json()["id"] == second.get_json()["id"]
    assert second.headers["Idempotent-Replayed"] == "true"


def test_high_priority_needs_a_key_allowed_to_use_it(client: Client, shop_key: str) -> None:
    response = post(client, png(), priority="high", headers={"Authorization": f"Bearer {shop_key}"})
    assert response.status_code == 202
    assert response.get_json()["priority"] == "high"


def test_batch_jobs_are_listed_by_batch_id(client: Client, shop_key: str) -> None:
    auth = {"Authorization": f"Bearer {shop_key}"}
    ids = {
        post(client, png(10 + i, 10), batch_id="backfill-1", headers=auth).get_json()["id"]
        for i in range(3)
    }
    post(client, png(), batch_id="other", headers=auth)
    listed = client.get("/v1/jobs?batch_id=backfill-1", headers=auth).get_json()["jobs"]
    assert {j["id"] for j in listed} == ids


def test_full_cache_hit_answers_200_without_queueing(client: Client, app: IngestApp) -> None:
    first = post(client, png()).get_json()
    backends = app.service.backends
    [message] = backends.queue.pull(1, wait_s=0)
    job = backends.status.get(first["id"])
    # Store the results the way a worker would, under the job's content addresses (both
    # renditions: a hit needs every one).
    from cutout import results

    for planned in results.plan(job, app.settings.model_identity):
        backends.blobs.put(
            planned.blob_key,
            png(),
            content_type="image/png",
            metadata={"width": "64", "height": "48"},
        )
    backends.queue.ack([message])

    again = post(client, png())
    assert again.status_code == 200
    body = again.get_json()
    assert body["state"] == "done"
    assert body["results"]["color"]["width"] == 64
    assert body["displays"]["color"]["url"].split("?")[0].endswith(".webp")
    assert backends.queue.pull(1, wait_s=0) == []
    download = client.get(body["results"]["color"]["url"].split("127.0.0.1:8080", 1)[1])
    assert download.status_code == 200
    assert download.data == png()


def test_effects_catalogue_lists_color_with_a_schema(client: Client) -> None:
    body = client.get("/v1/effects").get_json()
    names = [e["name"] for e in body["effects"]]
    assert "color" in names
    assert set(body["formats"]) >= {"png", "webp", "jpeg"}


def test_health_and_page(client: Client) -> None:
    assert client.get("/healthz").get_json()["ok"] is True
    page = client.get("/")
    assert page.status_code == 200
    assert b"/v1/cutout.js" in page.data  # the page is built on the served client
    assert client.get("/v1/cutout.js").status_code == 200


BAD_INPUTS: list[tuple[str, int, Callable[[Client], Any]]] = [
    ("missing_file", 400, lambda c: post(c, None, effects="color")),
    ("empty_file", 400, lambda c: post(c, b"")),
    ("too_large", 413, lambda c: post(c, b"\xff" * (3 * 1024 * 1024))),
    ("unsupported_format", 415, lambda c: post(c, b"just some text, not a photo")),
    ("image_truncated", 400, lambda c: post(c, jpeg_bytes(photo_like(300, 200))[:3000])),
    ("image_corrupt", 400, lambda c: post(c, corrupt_png())),
    ("image_too_large", 413, lambda c: post(c, jpeg_bytes(photo_like(2400, 1800), quality=60))),
    ("decompression_bomb", 400, lambda c: post(c, bomb_png())),
    ("unknown_effect", 400, lambda c: post(c, png(), effects="sparkles")),
    (
        "invalid_params",
        400,
        lambda c: post(c, png(), effects="color", params=json.dumps({"color": {"nonsense": 1}})),
    ),
    ("invalid_params_json", 400, lambda c: post(c, png(), effects="color", params="{oops")),
    (
        "params_without_effect",
        400,
        lambda c: post(c, png(), effects="color", params=json.dumps({"halftone": {}})),
    ),
    ("duplicate_effect", 400, lambda c: post(c, png(), effects="color,color")),
    ("too_many_effects", 400, lambda c: post(c, png(), effects="a,b,c,d")),
    ("invalid_format", 400, lambda c: post(c, png(), format="gif")),
    ("invalid_priority", 400, lambda c: post(c, png(), priority="urgent")),
    ("priority_not_allowed", 403, lambda c: post(c, png(), priority="high")),
    ("invalid_api_key", 401, lambda c: post(c, png(), headers={"X-API-Key": "wrong"})),
    (
        "invalid_idempotency_key",
        400,
        lambda c: post(c, png(), headers={"Idempotency-Key": "x" * 300}),
    ),
    ("invalid_batch_id", 400, lambda c: post(c, png(), batch_id="b" * 200)),
    (
        "unsupported_media_type",
        415,
        lambda c: c.post("/v1/jobs", data=png(), headers={"Content-Type": "image/png"}),
    ),
    (
        "too_many_files",
        400,
        lambda c: c.post(
            "/v1/jobs", data={"file": [(io.BytesIO(png()), "a.png"), (io.BytesIO(png()), "b.png")]}
        ),
    ),
    (
        "unexpected_file_field",
        400,
        lambda c: c.post("/v1/jobs", data={"photo": (io.BytesIO(png()), "a.png")}),
    ),
    (
        "malformed_request",
        400,
        lambda c: c.post(
            "/v1/jobs",
            data=b"--xyz\r\nbroken",
            headers={"Content-Type": "multipart/form-data; boundary=xyz"},
        ),
    ),
    (
        "invalid_json",
        400,
        lambda c: c.post(
            "/v1/jobs", data=b"{not json", headers={"Content-Type": "application/json"}
        ),
    ),
    ("upload_not_found", 404, lambda c: c.post("/v1/jobs", json={"upload_id": "abc123"})),
    ("invalid_upload_id", 400, lambda c: c.post("/v1/jobs", json={"upload_id": "../x"})),
    ("job_not_found", 404, lambda c: c.get("/v1/jobs/doesnotexist")),
    ("route_not_found", 404, lambda c: c.get("/v2/nothing")),
    ("method_not_allowed", 405, lambda c: c.delete("/v1/jobs")),
    ("invalid_output", 400, lambda c: post(c, png(), format="png", quality="80")),
    (
        "background_without_effect",
        400,
        lambda c: c.post(
            "/v1/jobs",
            data={
                "file": (io.BytesIO(png()), "a.png"),
                "background": (io.BytesIO(png()), "b.png"),
            },
        ),
    ),
    ("bad_signature", 403, lambda c: c.get("/v1/blobs/uploads/x?expires=1&sig=00")),
    ("invalid_query", 400, lambda c: c.get("/v1/jobs?limit=5000")),
    ("upload_used", 409, lambda c: put_twice(c)),
]


def put_twice(client: Client) -> Any:
    """A direct-upload URL works once: the second PUT is the answer."""
    offer = client.post("/v1/uploads?content_type=image/png").get_json()
    path = offer["url"].split("127.0.0.1:8080", 1)[1]
    assert client.put(path, data=png(), headers=offer["headers"]).status_code == 200
    return client.put(path, data=png(80, 60), headers=offer["headers"])


@pytest.mark.parametrize(
    ("code", "status", "send"), BAD_INPUTS, ids=[code for code, _, _ in BAD_INPUTS]
)
def test_bad_input_gets_its_own_4xx_code(
    client: Client, app: IngestApp, code: str, status: int, send: Callable[[Client], Any]
) -> None:
    response = send(client)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == code
    assert len(error["message"]) > 10
    assert app.service.backends.status.find(limit=10) == []
    assert post(client, png()).status_code == 202  # still serving


def test_bad_input_codes_are_all_different() -> None:
    codes = [code for code, _, _ in BAD_INPUTS]
    assert len(set(codes)) == len(codes) >= 20


def test_idempotency_key_reused_with_another_body_conflicts(client: Client) -> None:
    headers = {"Idempotency-Key": "order-18"}
    assert post(client, png(), headers=headers).status_code == 202
    response = post(client, png(80, 60), headers=headers)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "idempotency_conflict"


def test_failed_publish_fails_the_job_instead_of_losing_it(
    app: IngestApp, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(job_id: str, priority: Any) -> None:
        raise OSError("queue unavailable")

    monkeypatch.setattr(app.service.backends.queue, "publish", broken)
    response = post(client, png())
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "enqueue_failed"
    [job] = app.service.backends.status.find(limit=10)
    assert job.state is JobState.FAILED
    assert job.error is not None and job.error.code == "enqueue_failed"


def test_direct_upload_then_job_by_upload_id(client: Client) -> None:
    created = client.post("/v1/uploads?content_type=image/png")
    assert created.status_code == 201
    upload = created.get_json()
    path = upload["url"].split("127.0.0.1:8080", 1)[1]
    put = client.put(path, data=png(), headers={"Content-Type": "image/png"})
    assert put.status_code == 200
    response = client.post(
        "/v1/jobs", json={"upload_id": upload["upload_id"], "effects": ["color"]}
    )
    assert response.status_code == 202, response.get_data(as_text=True)
    assert response.get_json()["input"]["width"] == 64


def test_24_megapixel_photo_is_accepted_at_the_default_limit(settings: Settings) -> None:
    settings = settings.with_overrides(autoscale=False)
    app = IngestApp(settings, open_backends(settings))

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return app.dispatch(Request(environ))(environ, start_response)

    photo = jpeg_bytes(np.zeros((4000, 6000, 3), np.uint8) + 90, quality=80)
    response = post(Client(wsgi), photo)
    assert response.status_code == 202
    assert response.get_json()["input"]["width"] == 6000


def test_an_out_of_range_parameter_is_named(client: Client) -> None:
    params = json.dumps({"blackwhite": {"contrast": 99}})
    response = post(client, png(), effects="blackwhite", params=params)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_params"
    assert "contrast" in error["message"]


def test_output_options_are_canonical(client: Client) -> None:
    webp = post(client, png(), format="webp", quality="80").get_json()
    assert webp["output"] == {"format": "webp", "quality": 80, "matte": None}
    jpeg = post(client, png(), format="jpeg", matte="#000").get_json()
    assert jpeg["output"] == {"format": "jpeg", "quality": 90, "matte": "#000000"}


def test_a_second_upload_becomes_the_background_image(client: Client, app: IngestApp) -> None:
    backdrop = png(90, 60)
    response = client.post(
        "/v1/jobs",
        data={
            "file": (io.BytesIO(png()), "cat.png"),
            "background": (io.BytesIO(backdrop), "beach.png"),
            "effects": "background",
        },
    )
    assert response.status_code == 202, response.get_data(as_text=True)
    [effect] = response.get_json()["effects"]
    assert effect["params"]["mode"] == "image"
    key = effect["params"]["image"]
    assert app.service.backends.blobs.get(key) == backdrop


def test_clients_cannot_point_the_background_at_a_blob(client: Client) -> None:
    params = json.dumps({"background": {"mode": "image", "image": "results/someone-else.png"}})
    response = post(client, png(), effects="background", params=params)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_params"


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=-5", "limit=many", "state=lost"])
def test_an_out_of_range_listing_query_is_refused_not_clamped(
    client: Client, shop_key: str, query: str
) -> None:
    response = client.get(f"/v1/jobs?{query}", headers={"Authorization": f"Bearer {shop_key}"})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_query"
    assert query.split("=")[0] in error["message"]


def test_listing_honours_its_limit_at_the_bounds(client: Client, shop_key: str) -> None:
    auth = {"Authorization": f"Bearer {shop_key}"}
    for i in range(3):
        post(client, png(10 + i, 10), headers=auth)
    first = client.get("/v1/jobs?limit=1", headers=auth).get_json()
    assert len(first["jobs"]) == 1
    assert len(client.get("/v1/jobs?limit=1000", headers=auth).get_json()["jobs"]) == 3
    rest = client.get(f"/v1/jobs?limit=1000&cursor={first['next_cursor']}", headers=auth)
    assert [j["id"] for j in first["jobs"] + rest.get_json()["jobs"]] == [
        j["id"] for j in client.get("/v1/jobs", headers=auth).get_json()["jobs"]
    ]
    assert rest.get_json()["next_cursor"] is None


def test_an_image_never_arrives_inside_json(client: Client) -> None:
    response = client.post("/v1/jobs", json={"file": "aGVsbG8=", "effects": "color"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "missing_file"


def test_a_blob_upload_with_a_bad_signature_is_refused_before_its_body_is_read(
    client: Client,
) -> None:
    big = b"\0" * (3 * 1024 * 1024)  # over the 2 MB limit: refused as forged, not as too large
    response = client.put("/v1/blobs/uploads/direct/abc?expires=1&sig=00", data=big)
    assert (response.status_code, response.get_json()["error"]["code"]) == (403, "bad_signature")


def test_a_signed_blob_upload_over_the_limit_is_too_large(client: Client) -> None:
    upload = client.post("/v1/uploads?content_type=image/png").get_json()
    path = upload["url"].split("127.0.0.1:8080", 1)[1]
    response = client.put(path, data=b"\0" * (3 * 1024 * 1024))
    assert (response.status_code, response.get_json()["error"]["code"]) == (413, "too_large")
