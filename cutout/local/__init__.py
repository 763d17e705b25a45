"""The local adapters: a directory for blobs, one SQLite file for queue, status, keys
and heartbeats, subprocesses for workers. Nothing to install or run beyond Python."""

from __future__ import annotations

from cutout.backends import Backends
from cutout.data_dir_secrets import local_url_secret
from cutout.local.blob_routes import LocalBlobRoutes
from cutout.local.blobstore import LocalBlobStore
from cutout.local.keys import SqliteKeyStore
from cutout.local.launcher import LocalLauncher
from cutout.local.queue import SqliteJobQueue
from cutout.local.status import SqliteStatusStore
from cutout.settings import Settings


def open_local_backends(settings: Settings) -> Backends:
    """Adapters over ``settings.data_dir`` (blobs in ``blobs/``, the rest in ``cutout.db``);
    every process opening the same data directory shares the same state."""
    secret = local_url_secret(settings)
    blobs = LocalBlobStore(settings.blob_dir, settings.public_url, secret)
    return Backends(
        blobs=blobs,
        queue=SqliteJobQueue(
            settings.db_path,
            lease_s=settings.lease_s,
            max_attempts=settings.max_attempts,
            guard_every=settings.batch_guard_every,
        ),
        status=SqliteStatusStore(settings.db_path),
        launcher=LocalLauncher(settings),
        keys=SqliteKeyStore(settings.db_path),
        blob_routes=LocalBlobRoutes(blobs, secret),
    )


__all__ = [
    "LocalBlobRoutes",
    "LocalBlobStore",
    "LocalLauncher",
    "SqliteJobQueue",
    "SqliteKeyStore",
    "SqliteStatusStore",
    "open_local_backends",
]
