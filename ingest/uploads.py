"""Direct uploads: a one-time URL to PUT a photo straight into storage (big photos skip
ingest's body limit), and reading it back when a job names its ``upload_id``.

Single use: the URL may only create its object, never replace it (the local blob route
writes if absent; on GCS the URL binds ``x-goog-if-generation-match: 0``, which the
browser must send: it is in the offer's ``headers``). The object is kept until the
uploads' retention deletes it, after the URL expired, so its key stays used. A job copies
the bytes to their content address (ingest/service.py), so the upload's key never matters
again."""

from __future__ import annotations

import uuid
from typing import Any

from cutout.codes import ErrorCode
from cutout.errors import InvalidInput, NotFound
from cutout.ports.blobstore import BlobStore
from cutout.settings import Settings


class DirectUploads:
    def __init__(self, settings: Settings, blobs: BlobStore) -> None:
        self.settings = settings
        self.blobs = blobs

    def offer(self, content_type: str) -> dict[str, Any]:
        """Where and how to PUT the photo; its id then goes into ``POST /v1/jobs`` as
        ``upload_id`` instead of a file."""
        upload_id = uuid.uuid4().hex
        ttl = self.settings.url_ttl_s
        url = self.blobs.upload_url(upload_key(upload_id), content_type=content_type, ttl_s=ttl)
        return {
            "upload_id": upload_id,
            "url": url,
            "method": "PUT",
            "headers": self.blobs.upload_headers(content_type),
            "expires_in": ttl,
            "max_bytes": self.settings.max_upload_bytes,
        }

    def read(self, upload_id: str) -> bytes:
        """The uploaded bytes; ``upload_not_found`` if nothing was PUT."""
        key = upload_key(upload_id)
        info = self.blobs.stat(key)
        if info is None:
            raise NotFound(f"no upload with id {upload_id!r}", code=ErrorCode.UPLOAD_NOT_FOUND)
        limit = self.settings.max_upload_bytes
        if info.size > limit:
            raise InvalidInput(
                f"the upload has {info.size} bytes; the limit is {limit}", code=ErrorCode.TOO_LARGE
            )
        return self.blobs.get(key)


def upload_key(upload_id: str) -> str:
    if not upload_id.isalnum() or len(upload_id) > 64:
        raise InvalidInput(f"malformed upload id {upload_id!r}", code=ErrorCode.INVALID_UPLOAD_ID)
    return f"uploads/direct/{upload_id}"
