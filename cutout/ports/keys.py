"""KeyStore: the API key records, in the status-store family (SQLite / Firestore)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime

from cutout.keys import KeyRecord


class KeyStore(ABC):
    """Guarantees every adapter keeps:

    - Records hold the token's digest only; nothing here ever sees a token.
    - :meth:`create` is atomic and fails with :class:`~cutout.errors.Conflict` if the id
      exists (ids are random, so in practice: never overwrites a key).
    - :meth:`get` reads the stored record as it is now (no adapter caches): a
      revocation is visible to the next ``get`` on every instance. Callers that cache
      (ingest's ``KeyRing``) bound how stale they may be.
    - :meth:`revoke` is idempotent: the first revocation's time is kept, a second is a
      no-op that returns the record. A revoked key is never un-revoked.
    - Missing ids raise :class:`~cutout.errors.NotFound`; ids that cannot be ids
      (empty, ``/``) raise :class:`~cutout.errors.InvalidInput` or ``NotFound``, never
      reach another record.
    """

    @abstractmethod
    def create(self, record: KeyRecord) -> KeyRecord:
        """Store a new key record; :class:`~cutout.errors.Conflict` if the id is taken."""

    @abstractmethod
    def get(self, key_id: str) -> KeyRecord:
        """The record; :class:`~cutout.errors.NotFound` if there is none."""

    @abstractmethod
    def revoke(self, key_id: str, *, at: datetime | None = None) -> KeyRecord:
        """Mark the key revoked at ``at`` (default now) unless it already is; returns the
        stored record. :class:`~cutout.errors.NotFound` if missing."""

    @abstractmethod
    def list_keys(self, *, include_revoked: bool = True) -> list[KeyRecord]:
        """Every record, oldest ``created_at`` first (keys are few: an operator's list,
        not a tenant's data, so there is no paging)."""
