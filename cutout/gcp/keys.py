"""FirestoreKeyStore: one document per key, id = key id, in one collection.

Documents are the record's JSON form, except ``created_at`` and ``revoked_at``, stored as
Firestore timestamps so the console shows and orders them. Listing orders by
``created_at`` alone, which Firestore's automatic single-field index serves: Terraform
needs no index for keys, and no TTL (a key lives until it is revoked, and a revoked
record is kept as the audit trail of who could call).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.cloud import firestore

from cutout.codes import ErrorCode
from cutout.errors import NotFound
from cutout.gcp.documents import create_document, read_document
from cutout.gcp.errors import translated
from cutout.gcp.firestore import check_document_id
from cutout.job import utcnow
from cutout.keys import KeyRecord
from cutout.ports.keys import KeyStore

_TIMESTAMPS = ("created_at", "revoked_at")


class FirestoreKeyStore(KeyStore):
    """:meth:`revoke` is a transaction (read, keep an earlier revocation, write);
    Firestore may run it more than once, which changes nothing: it only sets one field
    from values fixed before it starts."""

    def __init__(self, client: firestore.Client, *, collection: str) -> None:
        self._db = client
        self._keys = client.collection(collection)

    def create(self, record: KeyRecord) -> KeyRecord:
        create_document(self._ref(record.id), _to_document(record), f"key {record.id}")
        return record

    def get(self, key_id: str) -> KeyRecord:
        data = read_document(self._ref(key_id), f"key {key_id}", code=ErrorCode.KEY_NOT_FOUND)
        return KeyRecord.model_validate(data)

    def revoke(self, key_id: str, *, at: datetime | None = None) -> KeyRecord:
        ref = self._ref(key_id)
        when = at or utcnow()

        @firestore.transactional
        def apply(transaction: firestore.Transaction) -> KeyRecord:
            snapshot = ref.get(transaction=transaction)
            if not snapshot.exists:
                raise NotFound(f"no key {key_id}", code=ErrorCode.KEY_NOT_FOUND)
            record = KeyRecord.model_validate(snapshot.to_dict())
            if record.revoked:
                return record
            transaction.update(ref, {"revoked_at": when})
            return record.model_copy(update={"revoked_at": when})

        with translated(f"revoking key {key_id}"):
            return apply(self._db.transaction())

    def list_keys(self, *, include_revoked: bool = True) -> list[KeyRecord]:
        query = self._keys.order_by("created_at")
        with translated("listing keys"):
            records = [KeyRecord.model_validate(s.to_dict()) for s in query.stream()]
        return [r for r in records if include_revoked or not r.revoked]

    def _ref(self, key_id: str) -> firestore.DocumentReference:
        return self._keys.document(check_document_id(key_id, "key id"))


def _to_document(record: KeyRecord) -> dict[str, Any]:
    data = record.model_dump(mode="json")
    for field in _TIMESTAMPS:
        data[field] = getattr(record, field)
    return data
