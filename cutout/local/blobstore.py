"""BlobStore on a directory, with HMAC-signed URLs that ingest's blob route checks.

Each object is one file holding a one-line JSON header (content type, metadata, size)
followed by the bytes. Keeping both in one file is what makes a put atomic as a whole: a
sidecar file could not be swapped together with the data, so a reader between the two
renames would see new bytes with old metadata, and an ``if_absent`` winner would exist for
a moment with no content type at all. Writes go to a temporary file in the target's
directory (names starting with ``.``, which no key segment may), then ``os.replace``-d
into place, or ``os.link``-ed for ``if_absent`` (the link fails if the name exists, so
exactly one concurrent writer wins). Files are therefore not plain images: read them
through the store.

Durability matches the local SQLite stores (WAL, ``synchronous=NORMAL``): a crashed
*process* never leaves a partial object, but files are not fsynced, so a power loss may
lose the newest objects — and a job whose input was lost fails with a code when a worker
finds it missing. The fsync cost 5 to 8 ms of every upload, a third of ingest's latency.

Retention (what the buckets' lifecycle rules do on GCS): :meth:`LocalBlobStore.sweep`
deletes objects whose file was last modified longer ago than their key's maximum age; a
write, or a cache hit's touch, sets the modification time. It looks at a bounded number
of files per call, resuming where the previous call stopped.

Keys map to paths one segment per directory, so ``a`` and ``a/b`` cannot both exist here
(on GCS they can); a put that would need both raises :class:`~cutout.errors.Conflict`.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

from cutout.codes import ErrorCode
from cutout.errors import ConfigurationError, Conflict, InvalidInput, NotFound
from cutout.ports.blob_routes import SignedUrlRefused
from cutout.ports.blobstore import BlobInfo, BlobStore, check_key

_MAGIC = b"cutout-blob/1 "
#: The header line is small; a longer first line means the file is not ours.
_MAX_HEADER = 64 * 1024

READ, WRITE = "GET", "PUT"
#: Files one :meth:`LocalBlobStore.sweep` looks at.
SWEEP_BUDGET = 2000
#: A writer's temporary file older than this was left by a crashed process.
STALE_TEMP_S = 3600.0


class LocalBlobStore(BlobStore):
    """Objects under ``root``; URLs point at ``{public_url}/v1/blobs/{key}`` on ingest and
    carry ``expires`` (unix seconds) and ``sig`` (HMAC-SHA256 with ``secret``), checked by
    :func:`verify_signature`. Upload URLs add ``op=put``; the signature covers the method,
    so the route must verify with the request's own method."""

    def __init__(self, root: Path, public_url: str, secret: str) -> None:
        if not secret:
            raise ConfigurationError("the local blob store needs a URL-signing secret")
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._public_url = public_url.rstrip("/")
        self._secret = secret
        self._sweep_walk: Iterator[Path] | None = None

    def put(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
        if_absent: bool = False,
    ) -> bool:
        path = self._path(key)
        meta = dict(metadata or {})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
            raise InvalidInput(f"blob {key!r}: metadata keys and values must be strings")
        header = {"content_type": content_type, "metadata": meta, "size": len(data)}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise Conflict(f"blob key {key!r}: a parent is an object, not a folder") from exc
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            with tmp.open("xb") as fh:
                fh.write(_MAGIC + json.dumps(header).encode() + b"\n")
                fh.write(data)
            if if_absent:
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    if path.is_dir():
                        raise IsADirectoryError(path) from None
                    return False
            else:
                os.replace(tmp, path)
        except IsADirectoryError as exc:
            raise Conflict(f"blob key {key!r} is a folder of other objects") from exc
        finally:
            tmp.unlink(missing_ok=True)
        return True

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            with path.open("rb") as fh:
                info = _read_header(fh, key)
                data = fh.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotFound(f"no blob {key!r}") from exc
        if len(data) != info.size:
            raise ConfigurationError(f"blob {key!r} is truncated: {len(data)} of {info.size}")
        return data

    def stat(self, key: str) -> BlobInfo | None:
        path = self._path(key)
        try:
            with path.open("rb") as fh:
                return _read_header(fh, key)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def touch(self, key: str) -> BlobInfo | None:
        """Sets the file's mtime to now: the local retention sweep counts from mtime (a
        write sets it too). Through the open file, so the object touched is the one read."""
        path = self._path(key)
        try:
            with path.open("rb") as fh:
                info = _read_header(fh, key)
                os.utime(fh.fileno())
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        return info

    def delete(self, key: str) -> None:
        path = self._path(key)
        with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
            path.unlink()

    def sweep(
        self, now: float, max_age_s: Callable[[str], float], *, budget: int = SWEEP_BUDGET
    ) -> int:
        """Delete the objects whose file is older than ``max_age_s(key)`` seconds at
        ``now`` (unix time), and writers' temporary files older than
        :data:`STALE_TEMP_S`, looking at no more than ``budget`` files; the next call
        continues the walk, and a finished walk starts again. Returns how many objects
        were deleted. Not part of the port (GCS deletes by lifecycle rules)."""
        deleted = 0
        for _ in range(budget):
            path = self._next_swept()
            if path is None:
                break
            try:
                age = now - path.stat().st_mtime
                if path.name.startswith("."):
                    if age > STALE_TEMP_S:
                        path.unlink()
                elif age > max_age_s(path.relative_to(self.root).as_posix()):
                    path.unlink()
                    deleted += 1
            except FileNotFoundError:
                continue  # deleted or replaced meanwhile
        return deleted

    def _next_swept(self) -> Path | None:
        """The walk's next file; ``None`` (once) when a walk ends."""
        if self._sweep_walk is None:
            self._sweep_walk = _files(self.root)
        path = next(self._sweep_walk, None)
        if path is None:
            self._sweep_walk = None
        return path

    def url(self, key: str, *, ttl_s: int) -> str:
        return self._signed(key, READ, ttl_s)

    def upload_url(self, key: str, *, content_type: str, ttl_s: int) -> str:
        """The content type is not bound into the signature: the route stores the PUT
        request's own ``Content-Type``."""
        return self._signed(key, WRITE, ttl_s) + "&op=put"

    def _signed(self, key: str, operation: str, ttl_s: int) -> str:
        check_key(key)
        if ttl_s <= 0:
            raise InvalidInput(f"URL lifetime must be positive, got {ttl_s}")
        expires = int(time.time()) + ttl_s
        sig = _sign(self._secret, key, operation, expires)
        return f"{self._public_url}/v1/blobs/{key}?expires={expires}&sig={sig}"

    def _path(self, key: str) -> Path:
        """Checked twice: the key's syntax, then the resolved path (a symlink planted in
        the tree must not lead outside the root either)."""
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise InvalidInput(
                f"blob key {key!r} leads outside the store", code=ErrorCode.INVALID_KEY
            )
        return path


def _files(root: Path) -> Iterator[Path]:
    for folder, _, names in os.walk(root):
        for name in names:
            yield Path(folder, name)


def _sign(secret: str, key: str, operation: str, expires: int) -> str:
    """The hex HMAC-SHA256 of one (method, key, expiry) triple."""
    message = f"{operation.upper()}\n{key}\n{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str, key: str, operation: str, expires: str | int, sig: str, now: float
) -> None:
    """Check a blob URL's ``expires`` and ``sig`` for ``operation`` (the request's method:
    ``GET`` or ``PUT``; ``HEAD`` counts as ``GET``). Raises
    :class:`~cutout.ports.blob_routes.SignedUrlRefused` (an InvalidInput) with code
    ``bad_signature`` (malformed or tampered) or ``url_expired``; returns ``None`` if valid.
    The comparison is constant-time."""
    method = "GET" if operation.upper() == "HEAD" else operation.upper()
    try:
        expires_at = int(expires)
        check_key(key)
    except (ValueError, InvalidInput) as exc:
        raise SignedUrlRefused(f"malformed blob URL for {key!r}") from exc
    if method not in (READ, WRITE):
        raise SignedUrlRefused(f"blob URLs do not allow {operation}")
    expected = _sign(secret, key, method, expires_at)
    if not hmac.compare_digest(expected.encode(), sig.encode()):
        raise SignedUrlRefused(f"bad signature on the URL for {key!r}")
    if now > expires_at:
        raise SignedUrlRefused(f"the URL for {key!r} expired", code=ErrorCode.URL_EXPIRED)


def _read_header(fh: BinaryIO, key: str) -> BlobInfo:
    line = fh.readline(_MAX_HEADER)
    if not line.startswith(_MAGIC) or not line.endswith(b"\n"):
        raise ConfigurationError(f"blob {key!r} is not a cutout blob file (edited by hand?)")
    header = json.loads(line[len(_MAGIC) :])
    return BlobInfo(
        key=key,
        size=header["size"],
        content_type=header["content_type"],
        metadata=header["metadata"],
    )
