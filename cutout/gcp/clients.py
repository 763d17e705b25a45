"""One place that builds the Google Cloud clients the adapters use.

Each service goes to its emulator when the clients' own variable is set
(``PUBSUB_EMULATOR_HOST``, ``FIRESTORE_EMULATOR_HOST``, ``STORAGE_EMULATOR_HOST``),
and to production with Application Default Credentials (on Cloud Run: the service
account of the service or job) otherwise. The Pub/Sub and Firestore clients read their
variables themselves; this module reads all three once, so every adapter makes the same
choice, and emulators need no credentials at all.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import google.auth
import google.cloud.storage as storage
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud import firestore
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient
from google.cloud.pubsub_v1.types import BatchSettings

from cutout.gcp.errors import translated
from cutout.gcp.signing import UrlSigner, emulator_signer

_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]

#: Publishes from concurrent requests share one RPC; a lone publish waits at most 10 ms.
PUBLISH_BATCHING = BatchSettings(max_messages=100, max_bytes=1_000_000, max_latency=0.01)


@dataclass(frozen=True)
class EmulatorHosts:
    """Which services run on an emulator, and where (``None``: the real service)."""

    pubsub: str | None = None
    firestore: str | None = None
    storage: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EmulatorHosts:
        env = os.environ if environ is None else environ
        return cls(
            pubsub=env.get("PUBSUB_EMULATOR_HOST") or None,
            firestore=env.get("FIRESTORE_EMULATOR_HOST") or None,
            storage=env.get("STORAGE_EMULATOR_HOST") or None,
        )

    @property
    def any(self) -> bool:
        return bool(self.pubsub or self.firestore or self.storage)

    def as_env(self) -> dict[str, str]:
        pairs = {
            "PUBSUB_EMULATOR_HOST": self.pubsub,
            "FIRESTORE_EMULATOR_HOST": self.firestore,
            "STORAGE_EMULATOR_HOST": self.storage,
        }
        return {name: value for name, value in pairs.items() if value}


@dataclass(frozen=True)
class GcpClients:
    storage: storage.Client
    signer: UrlSigner
    publisher: PublisherClient
    subscriber: SubscriberClient
    firestore: firestore.Client
    #: Built on first use: the Cloud Run Admin API has no emulator and needs credentials.
    jobs: Callable[[], Any]


def connect(project: str, emulators: EmulatorHosts) -> GcpClients:
    """Build every client; production credentials are looked up only if some service is
    not emulated (a :class:`~cutout.errors.ConfigurationError` if there are none)."""
    credentials = _production_credentials() if not _all_emulated(emulators) else None

    if emulators.storage:
        gcs = storage.Client(
            project=project,
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": emulators.storage},
        )
        signer = emulator_signer(project, emulators.storage)
    else:
        assert credentials is not None
        gcs = storage.Client(project=project, credentials=credentials)
        signer = UrlSigner(credentials)

    # The Pub/Sub and Firestore clients switch to the emulator (and anonymous
    # credentials) themselves when their variable is set.
    pubsub_creds = None if emulators.pubsub else credentials
    publisher = PublisherClient(batch_settings=PUBLISH_BATCHING, credentials=pubsub_creds)
    subscriber = SubscriberClient(credentials=pubsub_creds)
    db = firestore.Client(project=project, credentials=None if emulators.firestore else credentials)

    def jobs_client() -> Any:
        from google.cloud import run_v2

        with translated("connecting to the Cloud Run Admin API"):
            return run_v2.JobsClient(credentials=credentials or _production_credentials())

    return GcpClients(gcs, signer, publisher, subscriber, db, jobs_client)


def _all_emulated(emulators: EmulatorHosts) -> bool:
    return bool(emulators.pubsub and emulators.firestore and emulators.storage)


def _production_credentials() -> Credentials:
    with translated("looking up Application Default Credentials"):
        credentials, _ = google.auth.default(scopes=_SCOPES)
    return credentials
