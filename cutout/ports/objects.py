"""ObjectStore: a customer's own objects, named by ``gs://`` URI (cutout/refs.py), which
the service reads and writes as itself for a backfill given by reference.

Unlike :class:`~cutout.ports.blobstore.BlobStore` (the service's uploads and results,
under keys it chooses), these objects live outside its buckets, at names the customer
chose, within the prefixes a secret key was granted (checked at ingest, never here).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class ObjectEntry:
    """One listed object: its URI, its generation and its size; never its bytes."""

    uri: str
    generation: int
    size: int


class ObjectStore(ABC):
    @abstractmethod
    def list(self, prefix: str) -> Iterator[ObjectEntry]:
        """Every object under the ``gs://`` prefix, by name, with metadata only."""

    @abstractmethod
    def read(self, uri: str, generation: int) -> bytes:
        """The object's bytes at ``generation``: :class:`~cutout.errors.NotFound` if it
        is gone, :class:`~cutout.integrity.InputChanged` if it now has another
        generation (it was overwritten after the job was made), an
        :class:`~cutout.errors.InvalidInput` (``forbidden``) if the service may not read it."""

    @abstractmethod
    def write(self, uri: str, data: bytes, *, content_type: str) -> None:
        """Store ``data`` at ``uri``, replacing what is there (a rerun writes the same
        bytes again); ``forbidden`` as for :meth:`read`."""
