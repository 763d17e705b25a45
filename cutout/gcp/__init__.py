"""The Google Cloud adapters: Cloud Storage, Pub/Sub, Firestore and Cloud Run.

Nothing here is imported unless ``CUTOUT_BACKEND=gcp``: the local pipeline never needs
the cloud client libraries.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from cutout.errors import ConfigurationError
from cutout.settings import LauncherKind, Settings
from cutout.worker_processes import WorkerProcesses

if TYPE_CHECKING:
    from cutout.backends import Backends
    from cutout.gcp.launcher import Starter


def open_gcp_backends(settings: Settings) -> Backends:
    """Build the five GCP adapters from the settings, and the customers' gs:// objects.
    On emulators (the ``*_EMULATOR_HOST`` variables) the topics, subscriptions and buckets
    are created if missing; in production Terraform owns them and nothing is created.
    Workers start as Cloud Run job executions, or as local processes with
    ``CUTOUT_LAUNCHER=local``; their heartbeats live in Firestore either way.
    Raises :class:`~cutout.errors.ConfigurationError` naming what is missing: the client
    libraries, the project, a bucket, or credentials.
    """
    _check(settings)
    try:
        from cutout.backends import Backends
        from cutout.gcp.clients import EmulatorHosts, connect
        from cutout.gcp.firestore import FirestoreStatusStore
        from cutout.gcp.gcs import GcsBlobStore
        from cutout.gcp.keys import FirestoreKeyStore
        from cutout.gcp.launcher import FirestoreLauncher
        from cutout.gcp.objects import GcsObjectStore
        from cutout.gcp.pubsub import PubSubJobQueue
        from cutout.gcp.topology import Names, Policy, ensure_topology
    except ImportError as exc:
        raise ConfigurationError(
            f"CUTOUT_BACKEND=gcp needs the Google Cloud client libraries ({exc.name} is "
            "missing): pip install -r requirements.txt"
        ) from exc

    names = Names(settings.gcp_project, settings.topic_prefix)
    emulators = EmulatorHosts.from_env()
    clients = connect(settings.gcp_project, emulators)
    blobs = GcsBlobStore(
        clients.storage,
        uploads_bucket=settings.uploads_bucket,
        results_bucket=settings.results_bucket,
        signer=clients.signer,
    )
    status = FirestoreStatusStore(clients.firestore, collection=settings.jobs_collection)
    queue = PubSubJobQueue(
        clients.publisher,
        clients.subscriber,
        names,
        max_attempts=settings.max_attempts,
        backlog=status.backlog,
        guard_every=settings.batch_guard_every,
    )
    launcher = FirestoreLauncher(
        clients.firestore,
        collection=settings.workers_collection,
        starter=_starter(settings, clients.jobs),
        keep_lives=timedelta(days=settings.job_ttl_days),
    )
    if emulators.pubsub:
        policy = Policy(settings.lease_s, settings.max_attempts, settings.retry_base_s)
        ensure_topology(clients.publisher, clients.subscriber, names, policy)
    if emulators.storage:
        blobs.create_buckets()
    keys = FirestoreKeyStore(clients.firestore, collection=settings.keys_collection)
    return Backends(blobs, queue, status, launcher, keys, objects=GcsObjectStore(clients.storage))


def _starter(settings: Settings, jobs_client: Any) -> Starter:
    """Who starts workers: Cloud Run job executions, or local processes
    (``CUTOUT_LAUNCHER=local``)."""
    if settings.launcher is LauncherKind.LOCAL:
        return WorkerProcesses(settings)
    from cutout.gcp.cloudrun import CloudRunJob, worker_job_name

    return CloudRunJob(job_name=worker_job_name(settings), jobs_client=jobs_client)


def _check(settings: Settings) -> None:
    missing = [
        f"CUTOUT_{name.upper()}"
        for name in ("gcp_project", "uploads_bucket", "results_bucket")
        if not getattr(settings, name)
    ]
    if missing:
        raise ConfigurationError(f"CUTOUT_BACKEND=gcp needs {', '.join(missing)}")
