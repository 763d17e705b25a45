"""The local family's BlobRoutes: the signed URLs LocalBlobStore hands out, checked with
:func:`~cutout.local.blobstore.verify_signature` and served from the same store."""

from __future__ import annotations

import time
from collections.abc import Callable

from cutout.codes import ErrorCode
from cutout.errors import Conflict, NotFound
from cutout.local.blobstore import READ, WRITE, LocalBlobStore, verify_signature
from cutout.ports.blob_routes import BlobRoutes
from cutout.ports.blobstore import BlobInfo


class LocalBlobRoutes(BlobRoutes):
    def __init__(
        self, store: LocalBlobStore, secret: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self._secret = secret
        self._clock = clock

    def read(self, key: str, *, expires: str, sig: str) -> tuple[BlobInfo, bytes]:
        verify_signature(self._secret, key, READ, expires, sig, self._clock())
        info = self._store.stat(key)
        if info is None:
            raise NotFound(f"no object {key!r}", code=ErrorCode.BLOB_NOT_FOUND)
        return info, self._store.get(key)

    def write(
        self, key: str, body: Callable[[], bytes], *, content_type: str, expires: str, sig: str
    ) -> None:
        verify_signature(self._secret, key, WRITE, expires, sig, self._clock())
        if self._store.exists(key) or not self._store.put(
            key, body(), content_type=content_type, if_absent=True
        ):
            raise Conflict(
                f"the upload URL for {key!r} was already used; ask for a new one",
                code=ErrorCode.UPLOAD_USED,
            )
