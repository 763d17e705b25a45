"""``POST /v1.0/removebg`` and ``GET /v1.0/account`` against remove.bg's published OpenAPI
document (tests/fixtures/removebg-openapi.yaml): the cases are generated from its
parameters, their defaults and enumerations, and its response shapes and headers. The
app runs on the real local adapters with a real worker (the test ellipse segmenter) in
a thread."""

from __future__ import annotations

import base64
import io
import threading
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image
from urllib3 import encode_multipart_formdata
from werkzeug.test import Client
from werkzeug.wrappers import Request

from cutout.backends import Backends, open_backends
from cutout.keys import KeyKind, key_pepper
from cutout.samples import jpeg_bytes, photo_like
from cutout.settings import Settings
from ingest.app import IngestApp
from ingest.removebg.params import RemoveBgRequest, plan
from tests.support.keys import add_key
from tests.support.segmenters import EllipseSegmenter
from worker.loop import Worker
from worker.segmenters import base

SPEC = yaml.safe_load(
    (Path(__file__).parent / "fixtures" / "removebg-openapi.yaml").read_text(encoding="utf-8")
)
OPERATION = SPEC["paths"]["/removebg"]["post"]
SCHEMAS = SPEC["components"]["schemas"]
MULTIPART = SCHEMAS["RemoveBgMultipart"]["properties"]
JSON_BODY = SCHEMAS["RemoveBgJson"]["properties"]
SOURCES = {"image_file", "image_file_b64", "image_url"}
BINARY = {"image_file", "bg_image_file"}
#: Enumerated values cutout cannot honour (each a 400 naming its parameter, README).
UNSUPPORTED = {("type", "person"), ("type", "product"), ("type", "car")}
X_TYPES = set(OPERATION["responses"]["200"]["headers"]["X-Type"]["schema"]["enum"])
DOCUMENTED_400 = set(OPERATION["responses"]["400"]["content"]["*/*"]["examples"])


def documented_defaults(properties: dict[str, Any]) -> dict[str, str]:
    return {name: str(p["default"]) for name, p in properties.items() if "default" in p}


def enumerated(properties: dict[str, Any]) -> list[tuple[str, str]]:
    return [(name, str(v)) for name, p in properties.items() for v in p.get("enum", [])]


@pytest.fixture
def stack_settings(settings: Settings) -> Settings:
    return settings.with_overrides(
        segmenter="test-ellipse",
        poll_s=0.05,
        batch_wait_ms=10,
        idle_exit_s=600,
        autoscale=False,
        removebg_wait_s=60,
    )


@pytest.fixture
def stack(stack_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backends]:
    """The local adapters with a worker serving them in a thread."""
    monkeypatch.setitem(base.SEGMENTERS, "test-ellipse", EllipseSegmenter)
    backends = open_backends(stack_settings)
    worker = Worker(settings=stack_settings, backends=backends)
    thread = threading.Thread(target=worker.work, daemon=True)
    thread.start()
    yield backends
    worker.stop()
    thread.join(timeout=30)


@pytest.fixture
def app(stack: Backends, stack_settings: Settings) -> IngestApp:
    return IngestApp(stack_settings, stack)


def wsgi_client(app: IngestApp) -> Client:
    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return app.dispatch(Request(environ))(environ, start_response)

    return Client(wsgi)


@pytest.fixture
def client(app: IngestApp) -> Client:
    return wsgi_client(app)


@pytest.fixture
def key(app: IngestApp) -> str:
    return add_key(app.service.backends.keys, key_pepper(app.settings), kind=KeyKind.SECRET)


def photo(width: int = 300, height: int = 200) -> bytes:
    return jpeg_bytes(photo_like(width, height))


def post(client: Client, key: str | None, accept: str = "*/*", **fields: Any) -> Any:
    form: list[tuple[str, Any]] = []
    for name, value in fields.items():
        if name in BINARY:
            form.append((name, (f"{name}.jpg", value, "image/jpeg")))
        else:
            form.append((name, value))
    body, content_type = encode_multipart_formdata(form)
    headers = {"Content-Type": content_type, "Accept": accept}
    if key is not None:
        headers["X-Api-Key"] = key
    return client.post("/v1.0/removebg", data=body, headers=headers)


def errors_of(response: Any) -> list[dict[str, str]]:
    errors = response.get_json()["errors"]
    assert all(set(e) == {"title", "code", "detail"} for e in errors)
    return errors


# -- parameters, generated from the document --------------------------------------------


def test_the_document_lists_what_this_test_expects() -> None:
    assert set(MULTIPART) == set(JSON_BODY) | BINARY
    assert "image_file" in MULTIPART and "bg_image_file" in MULTIPART
    assert set(RemoveBgRequest.model_fields) == set(MULTIPART)


def test_every_documented_default_is_accepted_at_once() -> None:
    """Clients send every default; all of them together are a plain cut-out."""
    wanted = plan(RemoveBgRequest.parse(documented_defaults(MULTIPART)))
    assert wanted.effects == [("color", {})]
    assert wanted.output.format.value == "png"
    assert wanted.megapixels == 0.25  # preview


@pytest.mark.parametrize(("name", "value"), enumerated(MULTIPART))
def test_every_enumerated_value_is_accepted_or_refused_naming_its_parameter(
    name: str, value: str
) -> None:
    fields = {**documented_defaults(MULTIPART), name: value}
    if (name, value) in UNSUPPORTED:
        with pytest.raises(Exception) as refused:
            plan(RemoveBgRequest.parse(fields))
        assert refused.value.code == f"invalid_{name}"  # type: ignore[attr-defined]
        assert name in refused.value.message  # type: ignore[attr-defined]
    else:
        plan(RemoveBgRequest.parse(fields))


@pytest.mark.parametrize("name", sorted(n for n, p in JSON_BODY.items() if "default" in p))
def test_a_malformed_value_is_refused_with_the_parameters_code(name: str) -> None:
    fields = {**documented_defaults(MULTIPART), name: "not-a-valid-value!"}
    with pytest.raises(Exception) as refused:
        plan(RemoveBgRequest.parse(fields))
    assert refused.value.code == f"invalid_{name}"  # type: ignore[attr-defined]


@pytest.mark.parametrize("alias", ["small", "regular", "medium", "hd", "4k"])
def test_the_documented_size_aliases_are_accepted(alias: str) -> None:
    plan(RemoveBgRequest.parse({"size": alias}))


@pytest.mark.parametrize(
    ("fields", "effects", "fmt"),
    [
        ({"crop": "true", "crop_margin": "10%"}, [("crop", {"margin": 0.1})], "png"),
        ({"bg_color": "81d4fa"}, [("background", {"mode": "color", "color": "#81d4fa"})], "jpeg"),
        ({"bg_color": "green", "format": "png"}, [("background", {"color": "#008000"})], "png"),
        ({"channels": "alpha"}, [("color", {})], "mask"),
        ({"format": "jpg"}, [("color", {})], "jpeg"),
        ({"format": "webp"}, [("color", {})], "webp"),
    ],
)
def test_parameters_map_onto_effects_and_formats(
    fields: dict[str, str], effects: list[tuple[str, dict[str, Any]]], fmt: str
) -> None:
    wanted = plan(RemoveBgRequest.parse(fields))
    assert [name for name, _ in wanted.effects] == [name for name, _ in effects]
    for (_, got), (_, expected) in zip(wanted.effects, effects, strict=True):
        assert expected.items() <= got.items()
    assert wanted.output.format.value == fmt


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("roi", "10% 10% 90% 90%"),
        ("scale", "50%"),
        ("position", "center"),
        ("crop_margin", "30px"),
        ("bg_color", "81d4fa77"),
    ],
)
def test_a_non_default_value_cutout_cannot_honour_is_refused(name: str, value: str) -> None:
    with pytest.raises(Exception) as refused:
        plan(RemoveBgRequest.parse({"crop": "true", name: value}))
    assert refused.value.code == f"invalid_{name}"  # type: ignore[attr-defined]
    assert "cutout" in refused.value.message  # type: ignore[attr-defined]


# -- over HTTP, with a worker -------------------------------------------------------------


def test_an_image_answer_has_the_documented_headers(client: Client, key: str) -> None:
    response = post(client, key, image_file=photo(), **documented_defaults(JSON_BODY))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "image/png"
    image = Image.open(io.BytesIO(response.data))
    assert image.mode == "RGBA"
    assert image.width * image.height <= 250_000
    assert response.headers["X-Width"] == str(image.width)
    assert response.headers["X-Height"] == str(image.height)
    assert response.headers["X-Type"] in X_TYPES
    assert float(response.headers["X-Credits-Charged"]) == 1
    for name in ("Top", "Left", "Width", "Height"):
        assert int(response.headers[f"X-Foreground-{name}"]) >= 0
    assert int(response.headers["X-Foreground-Width"]) > 0
    assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(
        response.headers.keys()
    )


def test_json_is_answered_for_accept_json_and_all_three_body_types(
    client: Client, key: str
) -> None:
    b64 = base64.b64encode(photo()).decode()
    headers = {"X-Api-Key": key, "Accept": "application/json"}
    answers = [
        post(client, key, accept="application/json", image_file=photo()),
        client.post(
            "/v1.0/removebg", json={"image_file_b64": b64, "size": "full"}, headers=headers
        ),
        client.post(
            "/v1.0/removebg", data={"image_file_b64": b64, "type_level": "none"}, headers=headers
        ),
    ]
    for response in answers:
        assert response.status_code == 200, response.get_data(as_text=True)
        data = response.get_json()["data"]
        image = Image.open(io.BytesIO(base64.b64decode(data["result_b64"])))
        assert image.format == "PNG"
        assert {
            "foreground_top",
            "foreground_left",
            "foreground_width",
            "foreground_height",
        } <= set(data)
    assert Image.open(
        io.BytesIO(base64.b64decode(answers[1].get_json()["data"]["result_b64"]))
    ).size == (300, 200)
    assert "X-Type" not in answers[2].headers  # type_level=none


def test_zip_holds_a_colour_jpg_and_an_alpha_png(client: Client, key: str) -> None:
    response = post(client, key, image_file=photo(), format="zip")
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        assert sorted(archive.namelist()) == ["alpha.png", "color.jpg"]
        colour = Image.open(io.BytesIO(archive.read("color.jpg")))
        alpha = Image.open(io.BytesIO(archive.read("alpha.png")))
    assert colour.format == "JPEG" and colour.mode == "RGB"
    assert alpha.mode == "L" and alpha.size == colour.size


def test_a_background_colour_answers_an_opaque_jpg_for_format_auto(
    client: Client, key: str
) -> None:
    response = post(client, key, image_file=photo(), bg_color="00ff00")
    assert response.status_code == 200
    assert response.mimetype == "image/jpeg"
    assert "X-Foreground-Top" not in response.headers


PHOTO = b"<photo>"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({}, "missing_source"),
        ({"image_file": PHOTO, "image_url": "https://example.com/a.jpg"}, "multiple_sources"),
        ({"image_file": b"not an image"}, "invalid_file_type"),
        ({"image_file_b64": "***"}, "failed_to_read_image"),
        ({"image_url": "ftp://example.com/a.jpg"}, "invalid_image_url"),
        ({"image_url": "https://127.0.0.1/a.jpg"}, "failed_image_download"),
        ({"image_file": PHOTO, "bg_image_url": "http://example.com/b.jpg"}, "invalid_bg_image_url"),
        ({"image_file": PHOTO, "size": "huge"}, "invalid_size"),
        (
            {"image_file": PHOTO, "bg_color": "fff", "bg_image_url": "https://x.io/b.jpg"},
            "multiple_bg_sources",
        ),
    ],
)
def test_errors_are_remove_bg_errors_with_its_codes(
    client: Client, key: str, fields: dict[str, Any], code: str
) -> None:
    fields = {k: photo() if v is PHOTO else v for k, v in fields.items()}
    response = post(client, key, **fields)
    assert response.status_code == 400, response.get_data(as_text=True)
    [error] = errors_of(response)
    assert error["code"] == code
    assert code in DOCUMENTED_400
    assert response.headers["X-Credits-Charged"] == "0"
    assert "X-RateLimit-Limit" in response.headers


@pytest.mark.parametrize("token", [None, "sk_live_wrong", "publishable"])
def test_a_missing_wrong_or_publishable_key_is_403(
    client: Client, app: IngestApp, token: str | None
) -> None:
    if token == "publishable":
        token = add_key(
            app.service.backends.keys,
            key_pepper(app.settings),
            kind=KeyKind.PUBLISHABLE,
            allowed_origins=("https://shop.example",),
        )
    for response in (
        post(client, token, image_file=photo()),
        client.get("/v1.0/account", headers={"X-Api-Key": token} if token else {}),
    ):
        assert response.status_code == 403
        assert errors_of(response)[0]["code"] == "auth_failed"
        assert "X-RateLimit-Remaining" in response.headers


def test_account_reports_the_keys_images_left_in_remove_bgs_shape(
    client: Client, app: IngestApp
) -> None:
    from cutout.keys import Quotas

    token = add_key(
        app.service.backends.keys,
        key_pepper(app.settings),
        quotas=Quotas(images_per_day=2, requests_per_minute=100),
    )
    first = client.get("/v1.0/account", headers={"X-Api-Key": token}).get_json()
    assert first["data"]["attributes"]["credits"]["total"] == 2
    assert first["data"]["attributes"]["api"] == {"free_calls": 2, "sizes": "all"}
    assert post(client, token, image_file=photo()).status_code == 200
    after = client.get("/v1.0/account", headers={"X-Api-Key": token}).get_json()
    assert after["data"]["attributes"]["credits"]["total"] == 1
    assert post(client, token, image_file=photo(64, 64)).status_code == 200
    spent = post(client, token, image_file=photo(80, 80))
    assert spent.status_code == 402
    assert errors_of(spent)[0]["code"] == "insufficient_credits"


def test_rate_limited_is_429_with_retry_after(client: Client, app: IngestApp) -> None:
    from cutout.keys import Quotas

    token = add_key(
        app.service.backends.keys,
        key_pepper(app.settings),
        quotas=Quotas(images_per_day=100, requests_per_minute=1),
    )
    assert client.get("/v1.0/account", headers={"X-Api-Key": token}).status_code == 200
    limited = client.get("/v1.0/account", headers={"X-Api-Key": token})
    assert limited.status_code == 429
    assert errors_of(limited)[0]["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.headers["X-RateLimit-Remaining"] == "0"


# -- waiting ------------------------------------------------------------------------------


@pytest.fixture
def idle_app(settings: Settings) -> IngestApp:
    """No worker: jobs stay queued."""
    s = settings.with_overrides(autoscale=False, removebg_wait_s=0.5, backlog_drain_per_s=1.0)
    return IngestApp(s, open_backends(s))


def test_a_wait_past_the_limit_is_a_defined_uncharged_error_and_the_job_lives_on(
    idle_app: IngestApp,
) -> None:
    client = wsgi_client(idle_app)
    token = add_key(idle_app.service.backends.keys, key_pepper(idle_app.settings))
    response = post(client, token, image_file=photo())
    assert response.status_code == 504
    [error] = errors_of(response)
    assert error["code"] == "result_timeout"
    job_id = response.headers["X-Job-Id"]
    assert job_id in error["detail"]
    assert response.headers["X-Credits-Charged"] == "0"
    job = client.get(f"/v1/jobs/{job_id}").get_json()
    assert job["state"] == "queued"


def test_a_backlog_predicting_a_wait_past_the_limit_is_503_at_once(idle_app: IngestApp) -> None:
    client = wsgi_client(idle_app)
    token = add_key(idle_app.service.backends.keys, key_pepper(idle_app.settings))
    assert post(client, token, image_file=photo()).status_code == 504  # one job queued
    idle_app.admission.backlog = type(idle_app.admission.backlog)(
        idle_app.service.backends.queue.depth, max_age_s=0
    )
    refused = post(client, token, image_file=photo(64, 64))
    assert refused.status_code == 503
    assert errors_of(refused)[0]["code"] == "overloaded"
    assert int(refused.headers["Retry-After"]) >= 1


def test_concurrent_waits_are_capped_per_key(idle_app: IngestApp) -> None:
    slots = idle_app.removebg.slots
    with slots.hold("k1"), slots.hold("k1"), slots.hold("k1"), slots.hold("k1"):
        with pytest.raises(Exception) as full, slots.hold("k1"):
            pass
        assert full.value.code == "wait_slots_full"  # type: ignore[attr-defined]
        with slots.hold("k2"):
            pass
