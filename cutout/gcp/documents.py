"""The two document moves every Firestore adapter makes, with our errors and context:
create-if-absent (:class:`~cutout.errors.Conflict` when taken) and read
(:class:`~cutout.errors.NotFound` when missing)."""

from __future__ import annotations

from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

from cutout.errors import Conflict, NotFound
from cutout.gcp.errors import translated


def create_document(ref: firestore.DocumentReference, data: dict[str, Any], what: str) -> None:
    with translated(f"creating {what}"):
        try:
            ref.create(data)
        except gexc.AlreadyExists as exc:
            raise Conflict(f"{what} already exists") from exc


def read_document(
    ref: firestore.DocumentReference, what: str, *, code: str | None = None
) -> dict[str, Any]:
    with translated(f"reading {what}"):
        snapshot = ref.get()
    if not snapshot.exists:
        raise NotFound(f"no {what}", code=code)
    return snapshot.to_dict() or {}
