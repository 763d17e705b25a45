"""``/v1/batches`` on real local adapters: counts by state from the store, cancelling a
batch's queued jobs (recorded ``failed``, code ``cancelled``), scoped to the caller, and
refused for publishable keys; plus the store's count on its own."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image
from urllib3 import encode_multipart_formdata
from werkzeug.test import Client
from werkzeug.wrappers import Request

from cutout.backends import open_backends
from cutout.job import JobState, Priority
from cutout.keys import KeyKind, key_pepper
from cutout.ports.status import JobFilter
from cutout.samples import photo_like
from cutout.settings import Settings
from ingest.app import IngestApp
from tests.support.keys import add_key

SHOP = "https://shop.example"


@pytest.fixture
def app_settings(settings: Settings) -> Settings:
    return settings.with_overrides(autoscale=False)


@pytest.fixture
def client(app_settings: Settings) -> Client:
    app = IngestApp(app_settings, open_backends(app_settings))

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return app.dispatch(Request(environ))(environ, start_response)

    return Client(wsgi)


def key(settings: Settings, kind: KeyKind = KeyKind.SECRET) -> dict[str, str]:
    keys, pepper = open_backends(settings).keys, key_pepper(settings)
    if kind is KeyKind.SECRET:
        return {"Authorization": f"Bearer {add_key(keys, pepper, tier=Priority.HIGH)}"}
    token = add_key(keys, pepper, kind, allowed_origins=(SHOP,), tier=Priority.STANDARD)
    return {"Authorization": f"Bearer {token}", "Origin": SHOP}


def submit(client: Client, headers: dict[str, str], seed: int, batch: str) -> str:
    buf = io.BytesIO()
    Image.fromarray(photo_like(40 + seed, 30)).save(buf, "PNG")
    form = [("batch_id", batch), ("priority", "batch"), ("file", ("p.png", buf.getvalue()))]
    body, content_type = encode_multipart_formdata(form)
    response = client.post("/v1/jobs", data=body, headers={**headers, "Content-Type": content_type})
    assert response.status_code == 202, response.get_data(as_text=True)
    return str(response.json["id"])


def test_counts_come_from_the_store_and_cancel_ends_only_queued_jobs(
    client: Client, app_settings: Settings
) -> None:
    owner = key(app_settings)
    ids = [submit(client, owner, n, "bf-1") for n in range(5)]
    status = open_backends(app_settings).status
    status.transition(ids[0], [JobState.QUEUED], JobState.RUNNING)

    counts = client.get("/v1/batches/bf-1", headers=owner).json
    assert counts["counts"] == {"queued": 4, "running": 1, "done": 0, "failed": 0}
    assert counts["total"] == 5 and counts["finished"] == 0

    cancelled = client.post("/v1/batches/bf-1/cancel", headers=owner).json
    assert cancelled["cancelled"] == 4
    assert cancelled["counts"] == {"queued": 0, "running": 1, "done": 0, "failed": 4}
    for job_id in ids[1:]:
        job = status.get(job_id)
        assert job.state is JobState.FAILED and job.error is not None
        assert job.error.code == "cancelled"
    assert status.get(ids[0]).state is JobState.RUNNING


def test_a_batch_is_only_its_owners_and_needs_a_secret_key(
    client: Client, app_settings: Settings
) -> None:
    submit(client, key(app_settings), 0, "bf-2")
    stranger = client.get("/v1/batches/bf-2", headers=key(app_settings))
    assert stranger.status_code == 404 and stranger.json["error"]["code"] == "batch_not_found"
    browser = key(app_settings, KeyKind.PUBLISHABLE)
    refused = client.post("/v1/batches/bf-2/cancel", headers=browser)
    assert refused.status_code == 403, refused.get_data(as_text=True)
    assert refused.json["error"]["code"] == "listing_needs_secret_key"


def test_the_sqlite_count_by_state_matches_the_jobs(client: Client, app_settings: Settings) -> None:
    owner = key(app_settings)
    for n in range(3):
        submit(client, owner, n, "bf-3")
    submit(client, owner, 9, "bf-other")
    status = open_backends(app_settings).status
    counts = status.count_by_state(JobFilter(batch_id="bf-3"))
    assert counts[JobState.QUEUED] == 3 and sum(counts.values()) == 3
