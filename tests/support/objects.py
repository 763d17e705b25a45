"""An in-memory ObjectStore for unit tests of by-reference logic (the emulator tests use
the real GcsObjectStore on fake-gcs-server)."""

from __future__ import annotations

from collections.abc import Iterator

from cutout.errors import NotFound
from cutout.integrity import InputChanged
from cutout.ports.objects import ObjectEntry, ObjectStore


class MemoryObjects(ObjectStore):
    def __init__(self) -> None:
        self.objects: dict[str, tuple[int, bytes, str]] = {}

    def add(self, uri: str, data: bytes, content_type: str = "image/png") -> int:
        generation = self.objects.get(uri, (0, b"", ""))[0] + 1
        self.objects[uri] = (generation, data, content_type)
        return generation

    def list(self, prefix: str) -> Iterator[ObjectEntry]:
        for uri in sorted(self.objects):
            if uri.startswith(prefix):
                generation, data, _ = self.objects[uri]
                yield ObjectEntry(uri, generation, len(data))

    def read(self, uri: str, generation: int) -> bytes:
        if uri not in self.objects:
            raise NotFound(f"{uri} is gone")
        current, data, _ = self.objects[uri]
        if current != generation:
            raise InputChanged(f"{uri} is at generation {current}, not {generation}")
        return data

    def write(self, uri: str, data: bytes, *, content_type: str) -> None:
        self.add(uri, data, content_type)
