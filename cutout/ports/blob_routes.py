"""BlobRoutes: serving a blob store's signed URLs when no storage service serves them.

Cloud stores answer their own signed URLs (GCS checks its V4 signatures), so their
families offer no BlobRoutes. The local family's store signs URLs that point back at
ingest (``{public_url}/v1/blobs/{key}``); ingest mounts ``GET``/``PUT /v1/blobs/<key>``
only when the backends offer this object, and hands it the key, the URL's ``expires`` and
``sig`` exactly as they arrived. Nothing here knows about HTTP.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from cutout.codes import ErrorCode
from cutout.errors import InvalidInput
from cutout.ports.blobstore import BlobInfo


class SignedUrlRefused(InvalidInput):
    """A blob URL that is malformed, tampered with, for another method, or expired
    (code ``bad_signature`` or ``url_expired``). The edge answers 403."""

    default_code = ErrorCode.BAD_SIGNATURE


class BlobRoutes(ABC):
    """Read and write through signed URLs. Every call checks the signature first (for the
    operation it performs, constant-time) and raises :class:`SignedUrlRefused` before
    touching the store."""

    @abstractmethod
    def read(self, key: str, *, expires: str, sig: str) -> tuple[BlobInfo, bytes]:
        """The object behind a signed read URL; :class:`~cutout.errors.NotFound` (code
        ``blob_not_found``) when it does not exist."""

    @abstractmethod
    def write(
        self, key: str, body: Callable[[], bytes], *, content_type: str, expires: str, sig: str
    ) -> None:
        """Store ``body()`` under a signed upload URL's key if no object is there yet:
        the URL works once, so a second PUT (or the loser of two concurrent ones) raises
        :class:`~cutout.errors.Conflict` (code ``upload_used``) and changes nothing.
        ``body`` is called only once the signature holds, so a stranger's upload is refused
        before a byte of it is read. The content type is the request's own: it is not part
        of the signature."""
