"""open_local_backends: everything under the data directory, shared by every opener."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cutout.backends import open_backends
from cutout.data_dir_secrets import local_url_secret
from cutout.job import Priority
from cutout.local import LocalBlobStore, LocalLauncher, SqliteJobQueue, SqliteStatusStore
from cutout.local.blobstore import verify_signature
from cutout.settings import Settings


def test_two_openers_share_state_and_the_url_secret(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    one, two = open_backends(settings), open_backends(settings)
    assert isinstance(one.blobs, LocalBlobStore)
    assert isinstance(one.queue, SqliteJobQueue)
    assert isinstance(one.status, SqliteStatusStore)
    assert isinstance(one.launcher, LocalLauncher)
    assert one.queue.lease_s == settings.lease_s
    assert one.queue.max_attempts == settings.max_attempts

    one.blobs.put("uploads/x", b"photo", content_type="image/jpeg")
    assert two.blobs.get("uploads/x") == b"photo"
    assert (tmp_path / "data" / "blobs" / "uploads" / "x").is_file()
    one.queue.publish("j", Priority.HIGH)
    assert [m.job_id for m in two.queue.pull(1, wait_s=1)] == ["j"]
    assert (tmp_path / "data" / "cutout.db").is_file()
    # the generated secret is kept in the data directory, so both sign alike
    secret = local_url_secret(settings)
    for store in (one.blobs, two.blobs):
        q = parse_qs(urlsplit(store.url("uploads/x", ttl_s=60)).query)
        verify_signature(secret, "uploads/x", "GET", q["expires"][0], q["sig"][0], time.time())
