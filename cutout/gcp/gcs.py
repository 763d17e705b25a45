"""GcsBlobStore: uploads and results in Cloud Storage.

Routing: keys whose first segment is ``uploads`` live in the uploads bucket, every other
key in the results bucket; the object name is the key unchanged, so one bucket may serve
both and the lifecycle rules (uploads 7 days, results 30) apply per bucket.

Results are content-addressed (``results/<cache key>.<ext>``): they are written with
``if_generation_match=0``, so a second writer of the same result leaves the first one in
place and is told so (``put`` returns ``False``) instead of failing its job, and they are
served with ``Cache-Control: private, max-age=31536000, immutable`` (same key, same bytes;
private because they are one customer's photo).

Retention: every object written here carries a ``custom_time`` (the write's time), and
:meth:`GcsBlobStore.touch` moves it to now; the results bucket's lifecycle rule deletes
objects whose ``days_since_custom_time`` reaches the results TTL (infra/storage.tf), so a
result served from the cache lives on. Cloud Storage refuses to move a custom time back,
so touch only moves it when it is over an hour old (never behind another machine's clock)
and only if nobody changed the object since it was read (``if_metageneration_match``).
The uploads bucket counts plain age: direct uploads through signed URLs carry no custom
time.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta

import google.cloud.storage as storage
from google.api_core import exceptions as gexc
from google.api_core.retry import Retry
from google.cloud.storage.retry import DEFAULT_RETRY

from cutout.gcp.errors import translated
from cutout.gcp.signing import UrlSigner
from cutout.job import utcnow
from cutout.ports import BlobInfo, BlobStore
from cutout.ports.blobstore import RESULTS_PREFIX, check_key, is_upload

log = logging.getLogger(__name__)

RESULT_CACHE_CONTROL = "private, max-age=31536000, immutable"
#: A touch leaves a custom time younger than this alone: retention counts whole days.
TOUCH_EVERY = timedelta(hours=1)

#: Signed into every upload URL: the PUT may only create the object (generation 0).
CREATE_ONLY = {"x-goog-if-generation-match": "0"}

#: Retrying an upload is safe for us either way: an unconditional put writes the same
#: bytes again, and a conditional one that already landed reports "exists".
_UPLOAD_RETRY: Retry = DEFAULT_RETRY


class GcsBlobStore(BlobStore):
    def __init__(
        self,
        client: storage.Client,
        *,
        uploads_bucket: str,
        results_bucket: str,
        signer: UrlSigner,
    ) -> None:
        self._client = client
        self._uploads = client.bucket(uploads_bucket)
        self._results = client.bucket(results_bucket)
        self._signer = signer

    def put(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
        if_absent: bool = False,
    ) -> bool:
        blob = self._blob(key)
        blob.metadata = dict(metadata) if metadata else None
        blob.custom_time = utcnow()  # starts the retention clock (see the module docstring)
        if key.startswith(RESULTS_PREFIX):
            blob.cache_control = RESULT_CACHE_CONTROL
        try:
            with translated(f"storing {_uri(blob)}"):
                blob.upload_from_string(
                    data,
                    content_type=content_type,
                    if_generation_match=0 if if_absent else None,
                    retry=_UPLOAD_RETRY,
                )
        except gexc.PreconditionFailed:
            log.debug("%s exists; kept the stored object", _uri(blob))
            return False
        return True

    def get(self, key: str) -> bytes:
        blob = self._blob(key)
        with translated(f"reading {_uri(blob)}"):
            return bytes(blob.download_as_bytes())

    def stat(self, key: str) -> BlobInfo | None:
        blob = self._blob(key)
        with translated(f"reading metadata of {_uri(blob)}"):
            found = blob.bucket.get_blob(blob.name)
        return None if found is None else _info(key, found)

    def touch(self, key: str) -> BlobInfo | None:
        blob = self._blob(key)
        with translated(f"refreshing {_uri(blob)}"):
            found = blob.bucket.get_blob(blob.name)
            if found is None:
                return None
            info = _info(key, found)  # before the patch, whose answer may be partial
            now = utcnow()
            if found.custom_time is not None and found.custom_time > now - TOUCH_EVERY:
                return info
            found.custom_time = now
            try:
                found.patch(if_metageneration_match=found.metageneration, retry=DEFAULT_RETRY)
            except gexc.PreconditionFailed:
                log.debug("%s changed while refreshing: another touch or write did it", _uri(blob))
            except gexc.NotFound:
                return None
        return info

    def delete(self, key: str) -> None:
        blob = self._blob(key)
        with translated(f"deleting {_uri(blob)}"):
            try:
                blob.delete()
            except gexc.NotFound:
                return  # already gone: delete is idempotent by contract

    def url(self, key: str, *, ttl_s: int) -> str:
        return self._signer.sign(self._blob(key), method="GET", ttl_s=ttl_s)

    def upload_url(self, key: str, *, content_type: str, ttl_s: int) -> str:
        """Binds :data:`CREATE_ONLY` as a signed header: Cloud Storage itself refuses a
        PUT that would replace the object (412), so the URL works once."""
        return self._signer.sign(
            self._blob(key),
            method="PUT",
            ttl_s=ttl_s,
            content_type=content_type,
            headers=CREATE_ONLY,
        )

    def upload_headers(self, content_type: str) -> dict[str, str]:
        return {"Content-Type": content_type, **CREATE_ONLY}

    def create_buckets(self) -> None:
        """Create both buckets if absent: for emulators and local use only (production
        creates them, with lifecycle rules, in Terraform)."""
        for name in dict.fromkeys((self._uploads.name, self._results.name)):
            with translated(f"creating bucket {name}"):
                try:
                    self._client.create_bucket(name)
                except gexc.Conflict:
                    continue

    def close(self) -> None:
        """Release the HTTP connections (not part of the port; processes may simply exit)."""
        self._client.close()

    def _blob(self, key: str) -> storage.Blob:
        check_key(key)
        bucket = self._uploads if is_upload(key) else self._results
        return bucket.blob(key)


def _info(key: str, found: storage.Blob) -> BlobInfo:
    return BlobInfo(
        key=key,
        size=int(found.size or 0),
        content_type=found.content_type or "application/octet-stream",
        metadata=dict(found.metadata or {}),
    )


def _uri(blob: storage.Blob) -> str:
    return f"gs://{blob.bucket.name}/{blob.name}"
