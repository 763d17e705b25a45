"""Input integrity, written once: what binds a photo's bytes to its job, and the check
every reader of an input makes before anything content-addressed is written from it.

A job records the sha256 of its input (hashed at ingest; for inputs given by reference,
by whoever first reads the bytes). The bytes live at their content address
(:func:`content_key`), which nothing but the bytes hashing to it may occupy. A reader
that finds other bytes there (the object was overwritten after the job was made) must
not compute results from them: a result is stored under the *recorded* digest's cache
key, so swapped bytes would be served to every later honest upload of the original
photo. :func:`read_verified` refuses them with ``input_changed`` and evicts the impostor
from the content address, so the next honest upload stores the real bytes again.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from cutout.codes import ErrorCode
from cutout.errors import InvalidInput
from cutout.ports.blobstore import UPLOADS_PREFIX, BlobStore

log = logging.getLogger(__name__)


class InputChanged(InvalidInput):
    """The bytes read are not the bytes the job was made for (code ``input_changed``);
    the job fails, nothing is computed from them."""

    default_code = ErrorCode.INPUT_CHANGED


def content_digest(data: bytes) -> str:
    """The hex sha256 that identifies an input's bytes."""
    return hashlib.sha256(data).hexdigest()


def content_key(digest: str) -> str:
    """Where the input with this digest is stored: ``uploads/<sha256>``."""
    return f"{UPLOADS_PREFIX}{digest}"


def read_content_addressed(blobs: BlobStore, key: str) -> bytes:
    """The bytes at a content address (``uploads/<sha256>``, e.g. a ``background``
    image), verified against the digest the key names."""
    return read_verified(blobs, key, key.removeprefix(UPLOADS_PREFIX))


def verify(data: bytes, expected_sha256: str, *, what: str) -> str:
    """Return the digest of ``data`` if it is ``expected_sha256``; else raise
    :class:`InputChanged` naming ``what`` (the key or reference read)."""
    actual = content_digest(data)
    if not hmac.compare_digest(actual, expected_sha256):
        raise InputChanged(
            f"{what} changed after the job was created: its sha256 is {actual}, "
            f"the job was made for {expected_sha256}"
        )
    return actual


def read_verified(blobs: BlobStore, key: str, expected_sha256: str) -> bytes:
    """The bytes at ``key``, verified against ``expected_sha256``. On a mismatch at the
    digest's own content address the impostor is deleted (nothing else may live there)
    before :class:`InputChanged` is raised."""
    data = blobs.get(key)
    try:
        verify(data, expected_sha256, what=key)
    except InputChanged:
        if key == content_key(expected_sha256):
            log.warning("%s holds other bytes than its address; evicting them", key)
            blobs.delete(key)
        raise
    return data
