"""Objects given by reference, written once: what a ``gs://`` URI may look like, what a
granted prefix is, and whether a URI lies under one.

A prefix is always a folder: ``gs://bucket/photos`` is read as ``gs://bucket/photos/``,
so it never grants ``gs://bucket/photos-evil/…``; a bare bucket (``gs://bucket``) grants
the whole bucket. A URI is refused outright (``invalid_uri``) unless it is
``gs://<bucket>/<name>`` with a valid bucket name and no empty, ``.`` or ``..`` segment,
so no URI reaches outside its prefix by path tricks (Cloud Storage does not resolve
``..``, but a mirrored local name or a careless prefix match would).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from cutout.codes import ErrorCode
from cutout.errors import InvalidInput

SCHEME = "gs://"
MAX_URI = 1024
_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")


@dataclass(frozen=True)
class ObjectUri:
    bucket: str
    name: str  # the object name; "" for a bucket or prefix root

    def __str__(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.name}"


class SourceRef(BaseModel):
    """An input given by reference (a job's ``input.source``): a gs:// object at one
    generation."""

    model_config = ConfigDict(extra="forbid")
    uri: str
    generation: int = Field(ge=1)


class Delivery(BaseModel):
    """Where the service itself writes a job's full-resolution results (a job's
    ``delivery``): under ``prefix`` (a gs:// folder), at the backfill's mirrored names of
    ``relative_path``."""

    model_config = ConfigDict(extra="forbid")
    prefix: str
    relative_path: str


def is_gs(value: str) -> bool:
    return value.startswith(SCHEME)


def parse(uri: str, *, prefix: bool = False) -> ObjectUri:
    """``uri`` split into bucket and name, or :class:`InvalidInput` (``invalid_uri``).
    With ``prefix`` the name may be empty, and a non-empty one ends with ``/``."""
    if not is_gs(uri) or len(uri) > MAX_URI or not uri.isprintable():
        raise _invalid(uri, "is not a gs://bucket/path URI")
    bucket, _, name = uri.removeprefix(SCHEME).partition("/")
    if not _BUCKET.fullmatch(bucket):
        raise _invalid(uri, f"names no valid bucket ({bucket!r})")
    if prefix:
        name = name if not name or name.endswith("/") else name + "/"
    segments = name.removesuffix("/").split("/") if name else []
    if (not prefix and not name) or any(s in ("", ".", "..") for s in segments):
        raise _invalid(uri, "has an empty, '.' or '..' path segment")
    return ObjectUri(bucket, name)


def check_prefix(uri: str) -> str:
    """The canonical form of a granted prefix (``gs://bucket/folder/``)."""
    return str(parse(uri, prefix=True))


def within(uri: str, prefixes: Iterable[str]) -> bool:
    """Whether the object or prefix ``uri`` lies under one of ``prefixes`` (canonical)."""
    target = str(parse(uri, prefix=uri.endswith("/")))
    return any(target.startswith(check_prefix(p)) for p in prefixes)


def join(prefix: str, relative: str) -> str:
    """``relative`` (a mirrored name) under the prefix, checked like any URI."""
    return str(parse(check_prefix(prefix) + relative))


def _invalid(uri: str, why: str) -> InvalidInput:
    return InvalidInput(f"{uri[:200]!r} {why}", code=ErrorCode.INVALID_URI)
