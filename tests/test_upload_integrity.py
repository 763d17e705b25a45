"""Upload integrity on real local adapters (and, offline, the GCS upload URL's signed
headers): a direct-upload URL creates its object once, concurrent PUTs have one winner,
a job's input is bound to its content address, and a reader refuses changed bytes."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from cutout.backends import open_backends
from cutout.errors import Conflict, InvalidInput
from cutout.gcp.gcs import GcsBlobStore
from cutout.gcp.signing import emulator_key, emulator_signer
from cutout.integrity import (
    InputChanged,
    content_digest,
    content_key,
    read_content_addressed,
    read_verified,
    verify,
)
from cutout.local.blob_routes import LocalBlobRoutes
from cutout.local.blobstore import LocalBlobStore
from cutout.settings import Settings
from tests.support import v4_signatures

PROJECT = "integrity-test"


def signed_put(store: LocalBlobStore, key: str) -> tuple[str, str]:
    query = store.upload_url(key, content_type="image/png", ttl_s=60).split("?", 1)[1]
    fields = dict(pair.split("=", 1) for pair in query.split("&"))
    return fields["expires"], fields["sig"]


def test_a_local_upload_url_writes_once(settings: Settings) -> None:
    store = LocalBlobStore(settings.data_dir / "blobs", "http://x", "secret")
    routes = LocalBlobRoutes(store, "secret")
    expires, sig = signed_put(store, "uploads/direct/once")
    routes.write(
        "uploads/direct/once", lambda: b"first", content_type="a/b", expires=expires, sig=sig
    )
    read = []
    with pytest.raises(Conflict) as refused:
        routes.write(
            "uploads/direct/once",
            lambda: read.append(1) or b"second",
            content_type="a/b",
            expires=expires,
            sig=sig,
        )
    assert refused.value.code == "upload_used"
    assert read == [], "a used URL is refused before its body is read"
    assert store.get("uploads/direct/once") == b"first"


def test_two_concurrent_puts_to_one_url_have_exactly_one_winner(settings: Settings) -> None:
    store = LocalBlobStore(settings.data_dir / "blobs", "http://x", "secret")
    routes = LocalBlobRoutes(store, "secret")
    expires, sig = signed_put(store, "uploads/direct/race")
    start = threading.Barrier(8)

    def put(n: int) -> int | None:
        start.wait()
        try:
            routes.write(
                "uploads/direct/race",
                lambda: f"writer {n}".encode() * 10000,
                content_type="a/b",
                expires=expires,
                sig=sig,
            )
        except Conflict:
            return None
        return n

    with ThreadPoolExecutor(8) as pool:
        winners = [n for n in pool.map(put, range(8)) if n is not None]
    assert len(winners) == 1
    assert store.get("uploads/direct/race") == f"writer {winners[0]}".encode() * 10000


def test_a_gcs_upload_url_binds_create_only_and_the_answer_says_so() -> None:
    """fake-gcs-server checks no signatures, so the offline V4 check stands in for Cloud
    Storage: the PUT must carry ``x-goog-if-generation-match: 0`` as signed, so GCS
    itself refuses to replace the object."""
    client = storage.Client(project=PROJECT, credentials=AnonymousCredentials())
    signer = emulator_signer(PROJECT, "http://127.0.0.1:9")
    blobs = GcsBlobStore(client, uploads_bucket="up", results_bucket="res", signer=signer)
    url = blobs.upload_url("uploads/direct/abc", content_type="image/jpeg", ttl_s=600)
    headers = blobs.upload_headers("image/jpeg")
    assert headers == {"Content-Type": "image/jpeg", "x-goog-if-generation-match": "0"}
    key = emulator_key(PROJECT).public_key()
    now = time.time()
    v4_signatures.verify(url, "PUT", public_key=key, now=now, headers=headers)
    for sent in ({"Content-Type": "image/jpeg"}, {**headers, "x-goog-if-generation-match": "7"}):
        with pytest.raises(InvalidInput):
            v4_signatures.verify(url, "PUT", public_key=key, now=now, headers=sent)


def test_verify_names_both_digests() -> None:
    photo = b"the photo"
    assert verify(photo, content_digest(photo), what="k") == content_digest(photo)
    with pytest.raises(InputChanged, match=content_digest(b"other")) as refused:
        verify(b"other", content_digest(photo), what="uploads/x")
    assert refused.value.code == "input_changed"


def test_an_impostor_at_a_content_address_is_refused_and_evicted(settings: Settings) -> None:
    blobs = open_backends(settings).blobs
    digest = content_digest(b"original")
    blobs.put(content_key(digest), b"swapped", content_type="image/png")
    with pytest.raises(InputChanged):
        read_verified(blobs, content_key(digest), digest)
    assert not blobs.exists(content_key(digest)), "the next honest upload can store it again"
    blobs.put(content_key(digest), b"original", content_type="image/png")
    assert read_content_addressed(blobs, content_key(digest)) == b"original"


def test_a_mismatch_elsewhere_is_refused_but_never_deleted(settings: Settings) -> None:
    """A reference (not a content address) is someone's object: refuse, keep it."""
    blobs = open_backends(settings).blobs
    blobs.put("uploads/direct/ref", b"changed", content_type="image/png")
    with pytest.raises(InputChanged):
        read_verified(blobs, "uploads/direct/ref", content_digest(b"original"))
    assert blobs.get("uploads/direct/ref") == b"changed"
