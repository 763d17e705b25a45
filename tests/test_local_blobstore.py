"""LocalBlobStore beyond the contract: the on-disk layout, path escapes through the file
system, and the URL signature that ingest's blob route checks."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from cutout.errors import ConfigurationError, Conflict, InvalidInput, NotFound
from cutout.local.blob_routes import LocalBlobRoutes
from cutout.local.blobstore import LocalBlobStore, verify_signature
from cutout.ports.blob_routes import SignedUrlRefused

SECRET = "s3cret"


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs", "http://host:8080/", SECRET)


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_objects_live_under_their_key_and_leave_no_temp_files(store: LocalBlobStore) -> None:
    store.put("uploads/ab", b"data", content_type="image/png")
    store.put("uploads/ab", b"data2", content_type="image/png")
    assert not store.put("uploads/ab", b"data3", content_type="image/png", if_absent=True)
    files = sorted(p.relative_to(store.root) for p in store.root.rglob("*") if p.is_file())
    assert files == [Path("uploads/ab")]


def test_a_symlink_out_of_the_root_is_refused(store: LocalBlobStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"do not serve")
    (store.root / "link").symlink_to(outside)
    with pytest.raises(InvalidInput):
        store.get("link/secret")
    with pytest.raises(InvalidInput):
        store.put("link/new", b"x", content_type="text/plain")
    assert not (outside / "new").exists()


def test_a_key_and_its_prefix_cannot_both_be_objects(store: LocalBlobStore) -> None:
    store.put("a", b"1", content_type="text/plain")
    with pytest.raises(Conflict):
        store.put("a/b", b"2", content_type="text/plain")
    store.put("c/d", b"3", content_type="text/plain")
    with pytest.raises(Conflict):
        store.put("c", b"4", content_type="text/plain")
    with pytest.raises(Conflict):
        store.put("c", b"4", content_type="text/plain", if_absent=True)
    assert store.get("a") == b"1"
    assert store.get("c/d") == b"3"


def test_a_foreign_or_truncated_file_is_reported(store: LocalBlobStore) -> None:
    (store.root / "foreign").write_bytes(b"\x89PNG not ours")
    with pytest.raises(ConfigurationError, match="not a cutout blob"):
        store.get("foreign")
    store.put("cut", b"0123456789", content_type="text/plain")
    path = store.root / "cut"
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(ConfigurationError, match="truncated"):
        store.get("cut")


def test_metadata_must_be_strings(store: LocalBlobStore) -> None:
    with pytest.raises(InvalidInput):
        store.put("k", b"x", content_type="text/plain", metadata={"n": 1})  # type: ignore[dict-item]


def test_a_store_needs_a_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        LocalBlobStore(tmp_path, "http://h", "")


def test_url_shape(store: LocalBlobStore) -> None:
    before = int(time.time())
    url = store.url("results/x.png", ttl_s=100)
    parts = urlsplit(url)
    assert (
        f"{parts.scheme}://{parts.netloc}{parts.path}" == "http://host:8080/v1/blobs/results/x.png"
    )
    q = query(url)
    assert set(q) == {"expires", "sig"}
    assert before + 100 <= int(q["expires"]) <= int(time.time()) + 100
    assert SECRET not in url
    assert query(store.upload_url("uploads/u", content_type="image/jpeg", ttl_s=100))["op"] == "put"


def test_verify_signature(store: LocalBlobStore) -> None:
    url = store.url("results/x.png", ttl_s=60)
    q = query(url)
    now = time.time()
    verify_signature(SECRET, "results/x.png", "GET", q["expires"], q["sig"], now)
    verify_signature(SECRET, "results/x.png", "head", int(q["expires"]), q["sig"], now)

    def code(**changes: object) -> str:
        args: dict[str, object] = {
            "secret": SECRET,
            "key": "results/x.png",
            "operation": "GET",
            "expires": q["expires"],
            "sig": q["sig"],
            "now": now,
            **changes,
        }
        with pytest.raises(InvalidInput) as err:
            verify_signature(**args)  # type: ignore[arg-type]
        return err.value.code

    assert code(now=now + 61) == "url_expired"
    assert code(secret="other") == "bad_signature"
    assert code(operation="PUT") == "bad_signature"
    assert code(operation="DELETE") == "bad_signature"
    assert code(expires="soon") == "bad_signature"
    assert code(expires=str(int(q["expires"]) + 1)) == "bad_signature"
    assert code(sig=q["sig"].upper()) == "bad_signature"
    assert code(sig="") == "bad_signature"
    assert code(sig="é" * 64) == "bad_signature"
    assert code(key="results/../x.png") == "bad_signature"
    # a forged expiry is refused as forged, not as expired
    assert code(expires="1", now=now) == "bad_signature"


def test_blob_routes_serve_signed_urls_and_read_no_body_for_a_forged_one(
    store: LocalBlobStore,
) -> None:
    routes = LocalBlobRoutes(store, SECRET)
    put = query(store.upload_url("uploads/direct/u", content_type="image/png", ttl_s=60))
    read: list[str] = []

    def body() -> bytes:
        read.append("read")
        return b"photo"

    with pytest.raises(SignedUrlRefused):
        routes.write(
            "uploads/direct/u", body, content_type="image/png", expires=put["expires"], sig="0"
        )
    with pytest.raises(SignedUrlRefused):  # a read URL's signature does not allow a write
        get = query(store.url("uploads/direct/u", ttl_s=60))
        routes.write("uploads/direct/u", body, content_type="image/png", **get)
    assert read == [] and store.stat("uploads/direct/u") is None

    routes.write(
        "uploads/direct/u", body, content_type="image/png", expires=put["expires"], sig=put["sig"]
    )
    info, data = routes.read("uploads/direct/u", **query(store.url("uploads/direct/u", ttl_s=60)))
    assert (info.content_type, data, read) == ("image/png", b"photo", ["read"])
    with pytest.raises(NotFound) as missing:
        routes.read("uploads/none", **query(store.url("uploads/none", ttl_s=60)))
    assert missing.value.code == "blob_not_found"
    expired = LocalBlobRoutes(store, SECRET, clock=lambda: time.time() + 120)
    with pytest.raises(SignedUrlRefused) as late:
        expired.read("uploads/direct/u", **query(store.url("uploads/direct/u", ttl_s=60)))
    assert late.value.code == "url_expired"
