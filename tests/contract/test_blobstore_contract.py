"""BlobStore guarantees, for every adapter family."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest

from cutout.backends import Backends
from cutout.errors import InvalidInput, NotFound
from cutout.ports import BlobStore

from .conftest import Family, UrlCheck

BAD_KEYS = [
    "",
    "../x",
    "/abs",
    "a//b",
    "a/../b",
    "a/./b",
    "a/",
    ".hidden",
    "a\x00b",
    "a\\b",
    "sp ace",
    "ünïcode",
    "x" * 513,
    "y" * 201,
]


@pytest.fixture
def blobs(backends: Backends) -> BlobStore:
    return backends.blobs


def test_put_get_round_trip_with_metadata(blobs: BlobStore) -> None:
    data = bytes(range(256)) * 100
    assert blobs.put(
        "results/a.png", data, content_type="image/png", metadata={"job": "j1", "note": "zoë"}
    )
    assert blobs.get("results/a.png") == data
    info = blobs.stat("results/a.png")
    assert info is not None
    assert (info.key, info.size, info.content_type) == ("results/a.png", len(data), "image/png")
    assert dict(info.metadata) == {"job": "j1", "note": "zoë"}
    assert blobs.exists("results/a.png")


def test_empty_object_and_deep_keys(blobs: BlobStore) -> None:
    blobs.put("a/b/c/d/e.bin", b"", content_type="application/octet-stream")
    assert blobs.get("a/b/c/d/e.bin") == b""
    info = blobs.stat("a/b/c/d/e.bin")
    assert info is not None and info.size == 0


def test_put_overwrites_without_if_absent(blobs: BlobStore) -> None:
    blobs.put("k", b"one", content_type="text/plain", metadata={"v": "1"})
    assert blobs.put("k", b"two!", content_type="image/webp", metadata={"v": "2"})
    assert blobs.get("k") == b"two!"
    info = blobs.stat("k")
    assert info is not None
    assert (info.size, info.content_type, dict(info.metadata)) == (4, "image/webp", {"v": "2"})


def test_if_absent_keeps_the_first_object(blobs: BlobStore) -> None:
    assert blobs.put("k", b"first", content_type="text/plain", if_absent=True) is True
    assert blobs.put("k", b"second", content_type="image/png", if_absent=True) is False
    assert blobs.get("k") == b"first"
    info = blobs.stat("k")
    assert info is not None and info.content_type == "text/plain"


def test_if_absent_race_has_exactly_one_winner(blobs: BlobStore) -> None:
    writers = 8
    start = threading.Barrier(writers)

    def write(i: int) -> bool:
        start.wait()
        return blobs.put(
            "race", f"writer {i}".encode() * 1000, content_type="text/plain", if_absent=True
        )

    with ThreadPoolExecutor(writers) as pool:
        won = list(pool.map(write, range(writers)))
    assert won.count(True) == 1
    assert blobs.get("race") == f"writer {won.index(True)}".encode() * 1000


def test_readers_see_whole_objects_during_overwrites(blobs: BlobStore) -> None:
    versions = [bytes([i]) * (50_000 + 7919 * i) for i in range(6)]
    types = [f"application/x-v{i}" for i in range(6)]
    blobs.put("hot", versions[0], content_type=types[0])
    stop = threading.Event()
    seen: list[bytes] = []
    infos: list[tuple[int, str] | None] = []

    def read() -> None:
        while not stop.is_set():
            seen.append(blobs.get("hot"))
            info = blobs.stat("hot")
            infos.append(None if info is None else (info.size, info.content_type))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for round_ in range(5):
            for i, data in enumerate(versions):
                blobs.put("hot", data, content_type=types[i], metadata={"round": str(round_)})
    finally:
        stop.set()
        reader.join()
    assert seen, "the reader never ran"
    assert all(data in versions for data in seen)
    whole = {(len(v), t) for v, t in zip(versions, types, strict=True)}
    assert all(info in whole for info in infos)


def test_missing_objects(blobs: BlobStore) -> None:
    with pytest.raises(NotFound):
        blobs.get("nope/missing")
    assert blobs.stat("nope/missing") is None
    assert not blobs.exists("nope/missing")
    blobs.delete("nope/missing")


def test_delete_is_idempotent(blobs: BlobStore) -> None:
    blobs.put("d/x", b"1", content_type="text/plain")
    blobs.delete("d/x")
    blobs.delete("d/x")
    assert not blobs.exists("d/x")
    with pytest.raises(NotFound):
        blobs.get("d/x")


def _close_to_now(when: datetime, *, slack_s: float = 120) -> bool:
    return abs((when - datetime.now(UTC)).total_seconds()) < slack_s


def test_a_write_starts_the_retention_clock(family: Family, backends: Backends) -> None:
    backends.blobs.put("results/w.png", b"png", content_type="image/png")
    assert _close_to_now(family.retention_clock(backends, "results/w.png"))


def test_touch_restarts_the_retention_clock_and_changes_nothing_else(
    family: Family, backends: Backends
) -> None:
    """What keeps a cache hit on day 29 from handing out a result deleted on day 30."""
    blobs = backends.blobs
    blobs.put("results/t.png", b"png!", content_type="image/png", metadata={"width": "4"})
    family.set_retention_clock(backends, "results/t.png", datetime.now(UTC) - timedelta(days=29))
    assert not _close_to_now(family.retention_clock(backends, "results/t.png"))

    info = blobs.touch("results/t.png")
    assert info is not None and info == blobs.stat("results/t.png")
    assert (info.size, info.content_type, dict(info.metadata)) == (4, "image/png", {"width": "4"})
    assert _close_to_now(family.retention_clock(backends, "results/t.png"))
    assert blobs.get("results/t.png") == b"png!"


def test_touch_of_a_missing_object_is_none(blobs: BlobStore) -> None:
    assert blobs.touch("results/missing.png") is None
    assert not blobs.exists("results/missing.png")


def test_a_prefix_is_not_an_object(blobs: BlobStore) -> None:
    blobs.put("dir/child", b"1", content_type="text/plain")
    with pytest.raises(NotFound):
        blobs.get("dir")
    assert blobs.stat("dir") is None
    assert blobs.touch("dir") is None


@pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
def test_bad_keys_are_refused_everywhere(blobs: BlobStore, key: str) -> None:
    calls = [
        lambda: blobs.put(key, b"x", content_type="text/plain"),
        lambda: blobs.get(key),
        lambda: blobs.stat(key),
        lambda: blobs.touch(key),
        lambda: blobs.delete(key),
        lambda: blobs.url(key, ttl_s=60),
        lambda: blobs.upload_url(key, content_type="image/png", ttl_s=60),
    ]
    for call in calls:
        with pytest.raises(InvalidInput) as err:
            call()
        assert err.value.code == "invalid_key"


def test_longest_allowed_key_works(blobs: BlobStore) -> None:
    key = "/".join(["s" * 200] * 2) + "/" + "t" * 110
    assert len(key) == 512
    blobs.put(key, b"long", content_type="text/plain")
    assert blobs.get(key) == b"long"


def test_urls_name_the_object_and_differ_per_key(blobs: BlobStore) -> None:
    a = blobs.url("results/a.png", ttl_s=60)
    b = blobs.url("results/b.png", ttl_s=60)
    up = blobs.upload_url("uploads/c", content_type="image/jpeg", ttl_s=60)
    for url, key in ((a, "a.png"), (b, "b.png"), (up, "uploads/c")):
        assert urlsplit(url).scheme in ("http", "https")
        assert key in urlsplit(url).path
    assert a != b
    with pytest.raises(InvalidInput):
        blobs.url("results/a.png", ttl_s=0)


def _checker(family: Family) -> UrlCheck:
    if family.check_url is None:
        pytest.skip("this family cannot verify its signed URLs offline: URL checks NOT run")
    return family.check_url


def test_signed_url_is_accepted_until_it_expires(family: Family, backends: Backends) -> None:
    check = _checker(family)
    now = time.time()
    url = backends.blobs.url("results/a.png", ttl_s=300)
    check(backends, url, "GET", now)
    check(backends, url, "GET", now + 290)
    with pytest.raises(InvalidInput):
        check(backends, url, "GET", now + 310)


def test_upload_url_is_for_put_only(family: Family, backends: Backends) -> None:
    check = _checker(family)
    now = time.time()
    url = backends.blobs.upload_url("uploads/u1", content_type="image/jpeg", ttl_s=300)
    check(backends, url, "PUT", now, content_type="image/jpeg")
    with pytest.raises(InvalidInput):
        check(backends, url, "GET", now)
    read_url = backends.blobs.url("uploads/u1", ttl_s=300)
    with pytest.raises(InvalidInput):
        check(backends, read_url, "PUT", now, content_type="image/jpeg")


def test_tampered_urls_are_refused(family: Family, backends: Backends) -> None:
    check = _checker(family)
    now = time.time()
    url = backends.blobs.url("results/a.png", ttl_s=300)
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    other_key = urlunsplit(parts._replace(path=parts.path.replace("a.png", "b.png")))
    with pytest.raises(InvalidInput):
        check(backends, other_key, "GET", now)
    for name in query:
        value = query[name]
        forged = value[:-1] + ("0" if value[-1] != "0" else "1")
        tampered = urlunsplit(parts._replace(query=urlencode({**query, name: forged})))
        with pytest.raises(InvalidInput):
            check(backends, tampered, "GET", now)
