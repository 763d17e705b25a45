"""GcsObjectStore: a customer's gs:// objects, read and written as the service's own
account (grant it access to the bucket: infra/README.md, "Backfill by reference").

A read is pinned to the generation the job was made for: the current object's generation
is compared first (another one means the object was overwritten: ``input_changed``), and
the download itself is conditional on it, so an overwrite in between is refused too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import google.cloud.storage as storage
from google.api_core import exceptions as gexc

from cutout import refs
from cutout.codes import ErrorCode
from cutout.errors import InvalidInput, NotFound
from cutout.gcp.errors import translated
from cutout.integrity import InputChanged
from cutout.ports.objects import ObjectEntry, ObjectStore


class GcsObjectStore(ObjectStore):
    def __init__(self, client: storage.Client) -> None:
        self._client = client

    def list(self, prefix: str) -> Iterator[ObjectEntry]:
        where = refs.parse(prefix, prefix=True)
        with translated(f"listing {prefix}"), _forbidden(prefix):
            for blob in self._client.list_blobs(where.bucket, prefix=where.name or None):
                if not blob.name.endswith("/"):  # folder placeholders are no photos
                    uri = str(refs.ObjectUri(where.bucket, blob.name))
                    yield ObjectEntry(uri, int(blob.generation), int(blob.size or 0))

    def read(self, uri: str, generation: int) -> bytes:
        where = refs.parse(uri)
        with translated(f"reading {uri}"), _forbidden(uri):
            current = self._client.bucket(where.bucket).get_blob(where.name)
            if current is None:
                raise NotFound(f"{uri} is gone", code=ErrorCode.INPUT_MISSING)
            if int(current.generation) != generation:
                raise _changed(uri, generation, current.generation)
            try:
                return bytes(current.download_as_bytes(if_generation_match=generation))
            except gexc.PreconditionFailed as exc:
                raise _changed(uri, generation, "another") from exc

    def write(self, uri: str, data: bytes, *, content_type: str) -> None:
        where = refs.parse(uri)
        blob = self._client.bucket(where.bucket).blob(where.name)
        with translated(f"writing {uri}"), _forbidden(uri):
            blob.upload_from_string(data, content_type=content_type)


def _changed(uri: str, wanted: int, found: object) -> InputChanged:
    return InputChanged(
        f"{uri} changed after the job was created: it is at generation {found}, "
        f"the job was made for generation {wanted}"
    )


@contextlib.contextmanager
def _forbidden(uri: str) -> Iterator[None]:
    """Refused access fails the job (its owner must grant it), not the worker."""
    try:
        yield
    except gexc.Forbidden as exc:
        raise InvalidInput(
            f"the service may not access {uri}: grant its service account access to the "
            f"bucket ({exc.message})",
            code=ErrorCode.FORBIDDEN,
        ) from exc
