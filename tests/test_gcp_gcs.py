"""GcsBlobStore on fake-gcs-server through google-cloud-storage."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import google.cloud.storage as storage
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from cutout.errors import InvalidInput, NotFound
from cutout.gcp import open_gcp_backends
from cutout.gcp.gcs import RESULT_CACHE_CONTROL, GcsBlobStore
from cutout.gcp.signing import emulator_key
from cutout.job import utcnow
from cutout.settings import Settings
from tests.support import v4_signatures

pytestmark = pytest.mark.emulator


@pytest.fixture
def blobs(gcp_settings: Settings) -> GcsBlobStore:
    store = open_gcp_backends(gcp_settings).blobs
    assert isinstance(store, GcsBlobStore)
    return store


def raw_bucket(settings: Settings, name: str) -> storage.Bucket:
    return storage.Client(project=settings.gcp_project).bucket(name)


def test_roundtrip_with_type_metadata_and_result_cache_headers(
    blobs: GcsBlobStore, gcp_settings: Settings
) -> None:
    assert blobs.put("results/abc.png", b"png", content_type="image/png", metadata={"k": "v"})
    assert blobs.get("results/abc.png") == b"png"
    info = blobs.stat("results/abc.png")
    assert info is not None
    assert (info.size, info.content_type, dict(info.metadata)) == (3, "image/png", {"k": "v"})
    stored = raw_bucket(gcp_settings, gcp_settings.results_bucket).get_blob("results/abc.png")
    assert stored is not None and stored.cache_control == RESULT_CACHE_CONTROL


def test_uploads_and_results_go_to_their_buckets(
    blobs: GcsBlobStore, gcp_settings: Settings
) -> None:
    blobs.put("uploads/u1", b"photo", content_type="image/jpeg")
    blobs.put("results/r1.png", b"cut", content_type="image/png")
    uploads = raw_bucket(gcp_settings, gcp_settings.uploads_bucket)
    results = raw_bucket(gcp_settings, gcp_settings.results_bucket)
    assert [b.name for b in uploads.list_blobs()] == ["uploads/u1"]
    assert [b.name for b in results.list_blobs()] == ["results/r1.png"]
    upload = uploads.get_blob("uploads/u1")
    assert upload is not None and upload.cache_control is None


def test_if_absent_race_has_one_winner_and_no_failures(blobs: GcsBlobStore) -> None:
    writers = 8
    barrier = threading.Barrier(writers)
    outcomes: dict[int, bool | BaseException] = {}

    def write(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = blobs.put(
                "results/same.png",
                f"writer {i}".encode(),
                content_type="image/png",
                if_absent=True,
            )
        except BaseException as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [i for i, won in outcomes.items() if won is True]
    assert len(winners) == 1, outcomes
    assert all(won is False for i, won in outcomes.items() if i != winners[0]), outcomes
    assert blobs.get("results/same.png") == f"writer {winners[0]}".encode()


def test_if_absent_leaves_existing_object_and_large_objects_work(blobs: GcsBlobStore) -> None:
    big = bytes(range(256)) * (40 * 1024)  # 10 MiB: a resumable upload
    assert blobs.put("results/big.png", big, content_type="image/png", if_absent=True)
    assert not blobs.put("results/big.png", b"other", content_type="image/png", if_absent=True)
    assert blobs.get("results/big.png") == big
    assert blobs.put("results/big.png", b"other", content_type="image/png")
    assert blobs.get("results/big.png") == b"other"


def test_missing_objects(blobs: GcsBlobStore) -> None:
    with pytest.raises(NotFound, match="results/nope"):
        blobs.get("results/nope")
    assert blobs.stat("results/nope") is None
    assert not blobs.exists("results/nope")
    blobs.delete("results/nope")
    blobs.put("results/x", b"x", content_type="text/plain")
    blobs.delete("results/x")
    assert not blobs.exists("results/x")


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "a//b", "results/../x", "sp ace"])
def test_bad_keys_are_refused(blobs: GcsBlobStore, key: str) -> None:
    with pytest.raises(InvalidInput):
        blobs.put(key, b"x", content_type="text/plain")


def test_signed_read_url_has_v4_shape_and_is_served(
    blobs: GcsBlobStore, gcp_settings: Settings
) -> None:
    blobs.put("results/r.png", b"result", content_type="image/png")
    url = blobs.url("results/r.png", ttl_s=900)
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert parts.path == f"/{gcp_settings.results_bucket}/results/r.png"
    assert query["X-Goog-Algorithm"] == "GOOG4-RSA-SHA256"
    assert query["X-Goog-Expires"] == "900"
    assert query["X-Goog-SignedHeaders"] == "host"
    assert query["X-Goog-Credential"].startswith(f"cutout-emulator@{gcp_settings.gcp_project}")
    assert len(query["X-Goog-Signature"]) == 512  # hex of an RSA-2048 signature
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == b"result"
    assert response.headers["Cache-Control"] == RESULT_CACHE_CONTROL


def test_signed_upload_url_accepts_a_browser_put(blobs: GcsBlobStore) -> None:
    url = blobs.upload_url("uploads/direct1", content_type="image/jpeg", ttl_s=600)
    query = parse_qs(urlsplit(url).query)
    assert query["X-Goog-SignedHeaders"] == ["content-type;host;x-goog-if-generation-match"]
    headers = blobs.upload_headers("image/jpeg")
    response = requests.put(url, data=b"\xff\xd8jpeg", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    info = blobs.stat("uploads/direct1")
    assert info is not None and info.content_type == "image/jpeg"
    assert blobs.get("uploads/direct1") == b"\xff\xd8jpeg"


@pytest.mark.parametrize("ttl_s", [0, 7 * 24 * 3600 + 1])
def test_signed_url_lifetime_is_bounded(blobs: GcsBlobStore, ttl_s: int) -> None:
    with pytest.raises(InvalidInput, match="lifetime"):
        blobs.url("results/r.png", ttl_s=ttl_s)


def test_signatures_bind_the_content_type_and_the_key(
    blobs: GcsBlobStore, gcp_settings: Settings
) -> None:
    """fake-gcs-server checks no signature, so the V4 check of tests/support does, as
    Cloud Storage would (the contract suite runs it on every URL test too)."""
    url = blobs.upload_url("uploads/ct", content_type="image/jpeg", ttl_s=600)
    ours = emulator_key(gcp_settings.gcp_project).public_key()
    now = time.time()
    jpeg = blobs.upload_headers("image/jpeg")
    v4_signatures.verify(url, "PUT", public_key=ours, now=now, headers=jpeg)
    for headers in ({**jpeg, "Content-Type": "image/png"}, {"Content-Type": "image/jpeg"}, None):
        with pytest.raises(InvalidInput):
            v4_signatures.verify(url, "PUT", public_key=ours, now=now, headers=headers)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    with pytest.raises(InvalidInput, match="signature"):
        v4_signatures.verify(url, "PUT", public_key=stranger, now=now, headers=jpeg)


def test_touch_never_moves_a_custom_time_back(blobs: GcsBlobStore, gcp_settings: Settings) -> None:
    """Cloud Storage refuses a custom time earlier than the stored one (a 400 that would
    fail the job). fake-gcs-server does NOT enforce that rule (it accepts any custom
    time), so this checks what the store sends: a time ahead of our clock (another
    machine's) stays as it is, as does one set within the last hour."""
    results = raw_bucket(gcp_settings, gcp_settings.results_bucket)
    for key, offset in (
        ("results/ahead.png", timedelta(hours=3)),
        ("results/fresh.png", -timedelta(minutes=30)),
    ):
        blobs.put(key, b"png", content_type="image/png")
        stored = results.blob(key)
        stored.custom_time = utcnow() + offset
        stored.patch()
        before = results.get_blob(key)
        assert before is not None and before.custom_time is not None

        assert blobs.touch(key) is not None
        after = results.get_blob(key)
        assert after is not None and after.custom_time == before.custom_time, key


def test_uploads_also_carry_a_custom_time(blobs: GcsBlobStore, gcp_settings: Settings) -> None:
    """Every object the store writes starts its clock (the uploads bucket's rule counts
    plain age, since direct uploads through signed URLs carry none)."""
    blobs.put("uploads/u2", b"photo", content_type="image/jpeg")
    upload = raw_bucket(gcp_settings, gcp_settings.uploads_bucket).get_blob("uploads/u2")
    assert upload is not None and upload.custom_time is not None
    assert abs(upload.custom_time - utcnow()) < timedelta(minutes=2)
