"""BlobStore: uploads and results, addressed by slash-separated keys."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field

from cutout.codes import ErrorCode
from cutout.errors import InvalidInput

#: Keys under this prefix are uploads (on GCS: the uploads bucket, kept
#: ``upload_retention_days``); every other key is a result (``result_retention_days``).
UPLOADS_PREFIX = "uploads/"
RESULTS_PREFIX = "results/"

_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
MAX_KEY = 512
MAX_SEGMENT = 200


def check_key(key: str) -> str:
    """Return ``key`` if it is a valid blob key, else raise :class:`InvalidInput`: no
    empty, ``.`` or ``..`` segments, no absolute paths, nothing outside ``[A-Za-z0-9._-]``,
    at most 512 characters in all and 200 per segment (a segment becomes a file name
    locally, and file systems stop at 255 bytes). Adapters call this first, so no key can
    escape a directory root or bucket prefix."""
    segments = key.split("/")
    if len(key) > MAX_KEY or not all(
        _SEGMENT.fullmatch(s) and len(s) <= MAX_SEGMENT for s in segments
    ):
        raise InvalidInput(f"invalid blob key {key!r}", code=ErrorCode.INVALID_KEY)
    return key


@dataclass(frozen=True)
class BlobInfo:
    key: str
    size: int
    content_type: str
    metadata: Mapping[str, str] = field(default_factory=dict)


def is_upload(key: str) -> bool:
    """Whether ``key`` names an upload (rather than a result): which bucket, which TTL."""
    return key.startswith(UPLOADS_PREFIX)


class BlobStore(ABC):
    """Keys look like ``uploads/ab12…`` or ``results/cd34….png``: non-empty segments of
    ``[A-Za-z0-9._-]`` joined by ``/``, no ``.``/``..`` segments. Any other key raises
    :class:`~cutout.errors.InvalidInput` before touching storage.

    Retention: every object has a retention clock, started by the write that stores it
    and restarted by :meth:`touch`. An upload may be deleted ``upload_retention_days``
    after its clock started, any other object ``result_retention_days`` after (GCS: the
    buckets' lifecycle rules, the results bucket counting ``days_since_custom_time``;
    locally :meth:`~cutout.local.blobstore.LocalBlobStore.sweep`, run by ``cutout up``,
    counting from the file's mtime). Serving a stored result touches it, so a result
    handed out is never about to expire.
    """

    @abstractmethod
    def put(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
        if_absent: bool = False,
    ) -> bool:
        """Store ``data`` atomically: a reader sees the old object or the whole new one,
        never part. With ``if_absent`` an existing object is left untouched and the call
        returns ``False`` (not an error: content-addressed writers race harmlessly);
        otherwise it returns ``True``."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """The object's bytes; :class:`~cutout.errors.NotFound` if there is none."""

    @abstractmethod
    def stat(self, key: str) -> BlobInfo | None:
        """Size, content type and metadata, or ``None`` if there is no such object."""

    @abstractmethod
    def touch(self, key: str) -> BlobInfo | None:
        """Restart the object's retention clock, as a new write would, without rewriting
        it; return what :meth:`stat` would, or ``None`` if there is no such object. The
        clock may be left alone when it was restarted within the last hour (retention
        counts days); on GCS it can only move forward."""

    def exists(self, key: str) -> bool:
        return self.stat(key) is not None

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; deleting a missing object is not an error (idempotent)."""

    @abstractmethod
    def url(self, key: str, *, ttl_s: int) -> str:
        """A URL that lets anyone holding it read the object for ``ttl_s`` seconds and no
        longer (a signed URL on GCS; a token-checked ingest route locally)."""

    @abstractmethod
    def upload_url(self, key: str, *, content_type: str, ttl_s: int) -> str:
        """A URL that accepts one HTTP ``PUT`` of the object with ``content_type`` for
        ``ttl_s`` seconds, so large photos go straight to storage, not through ingest.
        It only creates the object: a PUT when the object exists is refused, so the URL
        works once. The PUT must carry :meth:`upload_headers`."""

    def upload_headers(self, content_type: str) -> dict[str, str]:
        """The headers a PUT to :meth:`upload_url` must send (signed ones included)."""
        return {"Content-Type": content_type}
