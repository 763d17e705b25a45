"""Builds the adapters the settings ask for; the only place that chooses between them."""

from __future__ import annotations

from dataclasses import dataclass

from cutout.ports import BlobStore, JobQueue, KeyStore, Launcher, StatusStore
from cutout.ports.blob_routes import BlobRoutes
from cutout.ports.objects import ObjectStore
from cutout.settings import Backend, Settings


@dataclass(frozen=True)
class Backends:
    blobs: BlobStore
    queue: JobQueue
    status: StatusStore
    launcher: Launcher
    keys: KeyStore
    #: Serves ``blobs``' signed URLs where no storage service does (the local family).
    blob_routes: BlobRoutes | None = None
    #: Customers' gs:// objects, for inputs given by reference (the GCP family only).
    objects: ObjectStore | None = None


def open_backends(settings: Settings) -> Backends:
    """The local adapters (files + SQLite) or the GCP ones (imported only when asked for,
    so the local pipeline never needs the cloud clients to import)."""
    if settings.backend is Backend.GCP:
        from cutout.gcp import open_gcp_backends

        return open_gcp_backends(settings)
    from cutout.local import open_local_backends

    return open_local_backends(settings)
