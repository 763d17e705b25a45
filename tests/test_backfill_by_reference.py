"""Backfill by reference, its rules on real local adapters (plus an in-memory object store
standing in for the customer's bucket; tests/test_backfill_gcp.py runs the real one):
gs:// prefixes as folders, a key's allowed sources and destinations (403, prefix tricks
and ``..`` included), ``POST /v1/batches/<id>/items`` (bounded, idempotent, nothing read
at ingest), and the worker's read (pinned generation, digest recorded) and delivery."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image
from werkzeug.test import Client
from werkzeug.wrappers import Request

from cutout import refs
from cutout.backends import Backends, open_backends
from cutout.errors import CutoutError, InvalidInput
from cutout.integrity import InputChanged, content_digest
from cutout.job import EffectResult
from cutout.keys import KeyKind, Quotas, issue_key, key_pepper
from cutout.ports.status import JobFilter
from cutout.samples import photo_like
from cutout.settings import Settings
from ingest.app import IngestApp
from ingest.models import MAX_REFERENCE_ITEMS
from tests.support.keys import add_key
from tests.support.objects import MemoryObjects
from worker.deliver import deliver
from worker.fetch import fetch_input

SRC = "gs://catalogue/photos/"
DEST = "gs://outputs/cutouts/"


def png(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(photo_like(40 + seed, 30)).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("uri", "granted"),
    [
        ("gs://catalogue/photos/a/cat.jpg", True),
        ("gs://catalogue/photos-evil/cat.jpg", False),  # a prefix is a folder
        ("gs://catalogue/photosx", False),
        ("gs://catalogue/other/cat.jpg", False),
        ("gs://catalogue2/photos/cat.jpg", False),
    ],
)
def test_a_prefix_grants_its_folder_only(uri: str, granted: bool) -> None:
    assert refs.within(uri, ["gs://catalogue/photos"]) is granted
    assert refs.within(uri, ["gs://catalogue/photos/"]) is granted


@pytest.mark.parametrize(
    "uri",
    ["gs://catalogue/photos/../secret.jpg", "gs://catalogue/photos//x", "gs://Bad_Bucket/x",
     "gs://catalogue/photos/./x", "s3://catalogue/x", "gs://catalogue/"],
)  # fmt: skip
def test_malformed_uris_are_refused(uri: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        refs.parse(uri)
    assert caught.value.code == "invalid_uri"


def test_key_records_hold_canonical_prefixes_for_secret_keys_only() -> None:
    pepper = b"p" * 32
    issued = issue_key(pepper, kind=KeyKind.SECRET, allowed_sources=("gs://catalogue/photos",),
                       allowed_destinations=("gs://outputs",))  # fmt: skip
    assert issued.record.allowed_sources == ("gs://catalogue/photos/",)
    assert issued.record.allowed_destinations == ("gs://outputs/",)
    with pytest.raises(CutoutError, match="only secret keys"):
        issue_key(pepper, kind=KeyKind.PUBLISHABLE, allowed_origins=("https://shop.example",),
                  allowed_sources=(SRC,))  # fmt: skip
    with pytest.raises(CutoutError, match=r"'\.\.'"):
        issue_key(pepper, kind=KeyKind.SECRET, allowed_sources=("gs://catalogue/a/../b",))


@pytest.fixture
def objects() -> MemoryObjects:
    return MemoryObjects()


@pytest.fixture
def backends(settings: Settings, objects: MemoryObjects) -> Backends:
    return dataclasses.replace(open_backends(settings.with_overrides(autoscale=False)),
                               objects=objects)  # fmt: skip


def client_for(settings: Settings, backends: Backends) -> Client:
    app = IngestApp(settings.with_overrides(autoscale=False), backends)

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return app.dispatch(Request(environ))(environ, start_response)

    return Client(wsgi)


def secret(backends: Backends, settings: Settings, **grants: Any) -> dict[str, str]:
    token = add_key(backends.keys, key_pepper(settings), **grants)
    return {"Authorization": f"Bearer {token}"}


def items_body(*uris: str, dest: str = DEST, generation: int = 1) -> dict[str, Any]:
    return {
        "dest": dest,
        "effects": ["color"],
        "items": [
            {"uri": u, "generation": generation, "relative_path": u.removeprefix(SRC), "size": 9}
            for u in uris
        ],
    }


GRANTS = {"allowed_sources": (SRC,), "allowed_destinations": (DEST,)}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (items_body("gs://catalogue/photos-evil/a.jpg"), "source_not_allowed"),
        (items_body("gs://catalogue/photos/../private/a.jpg"), "source_not_allowed"),
        (items_body(SRC + "a.jpg", dest="gs://outputs/cutouts-evil/"), "destination_not_allowed"),
        (items_body(SRC + "a.jpg", dest="gs://outputs/cutouts/../x/"), "destination_not_allowed"),
        (items_body(SRC + "a.jpg", dest="gs://outputs/"), "destination_not_allowed"),
    ],
)
def test_sources_and_destinations_outside_the_key_are_refused(
    settings: Settings, backends: Backends, body: dict[str, Any], code: str
) -> None:
    response = client_for(settings, backends).post(
        "/v1/batches/bf-1/items", json=body, headers=secret(backends, settings, **GRANTS)
    )
    assert response.status_code == 403, response.get_data(as_text=True)
    assert response.json["error"]["code"] == code
    assert sum(backends.status.count_by_state(JobFilter()).values()) == 0  # nothing made


def test_a_key_without_grants_may_not_backfill_by_reference(
    settings: Settings, backends: Backends
) -> None:
    client = client_for(settings, backends)
    response = client.post("/v1/batches/bf-1/items", json=items_body(SRC + "a.jpg"),
                           headers=secret(backends, settings))  # fmt: skip
    assert response.status_code == 403
    assert response.json["error"]["code"] == "destination_not_allowed"
    assert "none granted" in response.json["error"]["message"]
    anonymous = client.post("/v1/batches/bf-1/items", json=items_body(SRC + "a.jpg"))
    assert anonymous.status_code == 403
    assert anonymous.json["error"]["code"] == "listing_needs_secret_key"


def test_bad_requests_are_400_naming_the_problem(settings: Settings, backends: Backends) -> None:
    client = client_for(settings, backends)
    headers = secret(backends, settings, **GRANTS)
    many = items_body(*[f"{SRC}{n}.jpg" for n in range(MAX_REFERENCE_ITEMS + 1)])
    cases = [
        (many, "too_many_items"),
        ({**items_body(SRC + "a.jpg"), "items": [{"uri": SRC + "a.jpg", "generation": 0,
                                                  "relative_path": "a.jpg"}]}, "invalid_input"),
        ({**items_body(SRC + "a.jpg"), "items": [{"uri": SRC + "a.jpg", "generation": 1,
                                                  "relative_path": "../a.jpg"}]}, "invalid_uri"),
        ({**items_body(SRC + "a.jpg"), "effects": ["nope"]}, "unknown_effect"),
        ({**items_body(SRC + "a.jpg"), "renditions": "display,full"}, "invalid_output"),
    ]  # fmt: skip
    for body, code in cases:
        response = client.post("/v1/batches/bf-1/items", json=body, headers=headers)
        assert response.status_code == 400, (code, response.get_data(as_text=True))
        assert response.json["error"]["code"] == code
    unsupported = client_for(settings, open_backends(settings)).post(
        "/v1/batches/bf-1/items", json=items_body(SRC + "a.jpg"), headers=headers
    )
    assert unsupported.status_code == 400
    assert unsupported.json["error"]["code"] == "by_reference_unsupported"


def test_items_make_one_job_each_without_reading_the_objects(
    settings: Settings, backends: Backends, objects: MemoryObjects
) -> None:
    client = client_for(settings, backends)
    headers = secret(backends, settings, **GRANTS)
    body = items_body(SRC + "a/cat.jpg", SRC + "a/cat.png")
    first = client.post("/v1/batches/bf-1/items", json=body, headers=headers)
    assert first.status_code == 200, first.get_data(as_text=True)
    ids = [item["id"] for item in first.json["items"]]
    assert len(set(ids)) == 2 and not any(i["replayed"] for i in first.json["items"])
    job = backends.status.get(ids[0])
    assert job.priority.value == "batch" and job.client.batch_id == "bf-1"
    assert job.input.source is not None and job.input.source.uri == SRC + "a/cat.jpg"
    assert job.input.sha256 == "" and job.delivery is not None
    assert job.display is None, "a backfill asks for the full rendition only"
    assert job.delivery.relative_path == "a/cat.jpg"

    again = client.post("/v1/batches/bf-1/items", json=body, headers=headers)
    assert [i["id"] for i in again.json["items"]] == ids
    assert all(i["replayed"] for i in again.json["items"])
    newer = client.post("/v1/batches/bf-1/items", json=items_body(SRC + "a/cat.jpg", generation=2),
                        headers=headers)  # fmt: skip
    assert newer.json["items"][0]["id"] not in ids  # a new generation is a new item


def test_by_reference_items_spend_the_keys_images(settings: Settings, backends: Backends) -> None:
    """Items never stream through ingest, but each is an image against the key's daily
    quota: a backfill by reference cannot bypass it."""
    client = client_for(settings, backends)
    headers = secret(backends, settings, quotas=Quotas(images_per_day=3), **GRANTS)
    two = items_body(SRC + "a.jpg", SRC + "b.jpg")
    assert client.post("/v1/batches/q/items", json=two, headers=headers).status_code == 200
    refused = client.post("/v1/batches/q/items", json=items_body(SRC + "c.jpg", SRC + "d.jpg"),
                          headers=headers)  # fmt: skip
    assert refused.status_code == 429, refused.get_data(as_text=True)
    assert refused.json["error"]["code"] == "rate_limited"
    assert "Retry-After" in refused.headers
    one = items_body(SRC + "c.jpg")
    assert client.post("/v1/batches/q/items", json=one, headers=headers).status_code == 200


def test_the_worker_reads_the_listed_generation_hashes_it_and_delivers(
    settings: Settings, backends: Backends, objects: MemoryObjects
) -> None:
    client = client_for(settings, backends)
    headers = secret(backends, settings, **GRANTS)
    data = png(1)
    generation = objects.add(SRC + "a/cat.jpg", data)
    body = items_body(SRC + "a/cat.jpg", generation=generation)
    job_id = client.post("/v1/batches/bf-1/items", json=body, headers=headers).json["items"][0][
        "id"
    ]
    job = backends.status.get(job_id)

    read, updated = fetch_input(backends, job, max_pixels=settings.max_pixels)
    assert read == data and updated.input.sha256 == content_digest(data)
    assert updated.input.width * updated.input.height == 41 * 30

    objects.add(SRC + "a/cat.jpg", png(2))  # overwritten after the job was made
    with pytest.raises(InputChanged):
        fetch_input(backends, job, max_pixels=settings.max_pixels)

    backends.blobs.put("results/abc.png", b"result-bytes", content_type="image/png")
    result = EffectResult(key="results/abc.png", format="png", width=1, height=1, bytes=12,
                          cache_key="abc")  # fmt: skip
    backends.status.record_result(job_id, "color", result=result)
    assert deliver(backends, job_id) == 1
    assert objects.objects[DEST + "a/cat.jpg.color.png"][1:] == (b"result-bytes", "image/png")
