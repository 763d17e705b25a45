"""Fixtures that run every contract test once per adapter family.

A family is everything needed to open fresh adapters of one kind. To add one, write an
``open`` context manager and add a :class:`Family` to :data:`FAMILIES`; every test in this
folder then runs against it too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, cast
from urllib.parse import parse_qs, urlsplit

import pytest

from cutout.backends import Backends
from cutout.job import EffectRequest, InputInfo, Job, new_job_id
from cutout.local import (
    LocalBlobStore,
    LocalLauncher,
    SqliteJobQueue,
    SqliteKeyStore,
    SqliteStatusStore,
)
from cutout.local.blobstore import verify_signature
from cutout.ports import Launcher
from cutout.settings import Settings
from cutout.worker_processes import WorkerProcesses
from tests.support.emulators import PROJECT, settings_for


@dataclasses.dataclass(frozen=True)
class Overrides:
    """Per-test settings a family must honour."""

    lease_s: float
    max_attempts: int = 5
    guard_every: int = Settings().batch_guard_every


class UrlCheck(Protocol):
    def __call__(
        self,
        backends: Backends,
        url: str,
        method: str,
        now: float,
        *,
        content_type: str | None = None,
    ) -> None: ...


class Processes(Protocol):
    def running(self) -> list[int]: ...

    def stop(self, timeout_s: float = 10.0) -> None: ...


@dataclasses.dataclass(frozen=True)
class Spawning:
    """A launcher whose :meth:`~Launcher.start` runs a given command, and the processes
    it started (stopped when the ``spawn`` context ends)."""

    launcher: Launcher
    processes: Processes


@dataclasses.dataclass(frozen=True)
class Family:
    """``open(tmp_path, overrides)`` yields fresh adapters; calls with the same ``tmp_path``
    share storage (as two processes would). ``lease_s`` is the shortest lease the family's
    queue honours (Pub/Sub's minimum ack deadline is 10 s). ``strict_order`` says
    whether tier/FIFO order is exact rather than best effort.
    ``check_url(backends, url, method, now, content_type=None)`` raises
    :class:`~cutout.errors.InvalidInput` if the server would refuse ``method`` on ``url``
    at ``now`` (sent with that ``Content-Type``); ``None`` means the family cannot check
    its URLs offline (those tests then skip and say so). ``spawn(tmp_path, command)``
    yields a :class:`Spawning` whose launcher starts workers as ``command``."""

    open: Callable[[Path, Overrides], AbstractContextManager[Backends]]
    spawn: Callable[[Path, Sequence[str]], AbstractContextManager[Spawning]]
    lease_s: float
    #: ``retention_clock(backends, key)`` reads when a blob's retention clock last started
    #: (what the family's retention rule counts from); ``set_retention_clock(backends,
    #: key, when)`` moves it, to make a blob look old.
    retention_clock: Callable[[Backends, str], datetime]
    set_retention_clock: Callable[[Backends, str, datetime], None]
    strict_order: bool = True
    check_url: UrlCheck | None = None
    marks: tuple[pytest.MarkDecorator, ...] = ()
    #: Fixtures to set up before ``open`` (servers, environment variables).
    fixtures: tuple[str, ...] = ()


LOCAL_SECRET = "contract-suite-secret"


def _local_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", url_secret=LOCAL_SECRET)


@contextmanager
def _open_local(tmp_path: Path, overrides: Overrides) -> Iterator[Backends]:
    # Built one by one rather than by open_local_backends: Settings refuse leases under
    # 10 s (Pub/Sub's floor), and these tests want shorter ones.
    settings = _local_settings(tmp_path)
    queue = SqliteJobQueue(
        settings.db_path,
        lease_s=overrides.lease_s,
        max_attempts=overrides.max_attempts,
        guard_every=overrides.guard_every,
    )
    status = SqliteStatusStore(settings.db_path)
    launcher = LocalLauncher(settings)
    keys = SqliteKeyStore(settings.db_path)
    try:
        yield Backends(
            blobs=LocalBlobStore(settings.blob_dir, settings.public_url, LOCAL_SECRET),
            queue=queue,
            status=status,
            launcher=launcher,
            keys=keys,
        )
    finally:
        queue.close()
        status.close()
        launcher.close()
        keys.close()


@contextmanager
def _spawn_local(tmp_path: Path, command: Sequence[str]) -> Iterator[Spawning]:
    launcher = LocalLauncher(_local_settings(tmp_path), command)
    try:
        yield Spawning(launcher, launcher)
    finally:
        launcher.stop(timeout_s=30)
        launcher.close()


def _check_local_url(
    backends: Backends, url: str, method: str, now: float, *, content_type: str | None = None
) -> None:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    key = parts.path.removeprefix("/v1/blobs/")
    verify_signature(LOCAL_SECRET, key, method, query["expires"], query["sig"], now)


def _local_blob_path(backends: Backends, key: str) -> Path:
    return cast(LocalBlobStore, backends.blobs).root / key


def _local_clock(backends: Backends, key: str) -> datetime:
    """The local retention sweep counts from the file's mtime."""
    return datetime.fromtimestamp(_local_blob_path(backends, key).stat().st_mtime, UTC)


def _set_local_clock(backends: Backends, key: str, when: datetime) -> None:
    os.utime(_local_blob_path(backends, key), (when.timestamp(), when.timestamp()))


@contextmanager
def _open_gcp(tmp_path: Path, overrides: Overrides) -> Iterator[Backends]:
    # Names derive from tmp_path, so opening twice in one test shares topics and buckets;
    # the family's gcp_settings fixture has set the emulator variables and emptied
    # Firestore. Pub/Sub's ack deadline is whole seconds, 10 at least.
    from cutout.gcp import open_gcp_backends
    from cutout.gcp.firestore import FirestoreStatusStore
    from cutout.gcp.gcs import GcsBlobStore
    from cutout.gcp.pubsub import PubSubJobQueue

    settings = _gcp_settings(tmp_path).with_overrides(
        lease_s=math.ceil(overrides.lease_s),
        max_attempts=overrides.max_attempts,
        batch_guard_every=overrides.guard_every,
    )
    backends = open_gcp_backends(settings)
    try:
        yield backends
    finally:
        cast(PubSubJobQueue, backends.queue).close()
        cast(FirestoreStatusStore, backends.status).close()
        cast(GcsBlobStore, backends.blobs).close()


def _gcs_object(backends: Backends, key: str) -> Any:
    from cutout.gcp.gcs import GcsBlobStore

    return cast(GcsBlobStore, backends.blobs)._blob(key)  # the bucket the store routes to


def _gcp_clock(backends: Backends, key: str) -> datetime:
    """The results bucket's lifecycle rule counts ``days_since_custom_time``."""
    blob = _gcs_object(backends, key)
    found = blob.bucket.get_blob(blob.name)
    assert found is not None and found.custom_time is not None, f"{key} has no custom time"
    return cast(datetime, found.custom_time)


def _set_gcp_clock(backends: Backends, key: str, when: datetime) -> None:
    # Cloud Storage refuses to move a custom time back; fake-gcs-server allows it, which
    # is what lets a test make an object look old.
    blob = _gcs_object(backends, key)
    blob.custom_time = when
    blob.patch()


def _gcp_settings(tmp_path: Path) -> Settings:
    return settings_for("c" + hashlib.sha256(str(tmp_path).encode()).hexdigest()[:12])


@contextmanager
def _spawn_gcp(tmp_path: Path, command: Sequence[str]) -> Iterator[Spawning]:
    # Cloud Run has no emulator: workers run here (the launcher's local starter) and
    # beat into the emulated Firestore.
    from google.cloud import firestore

    from cutout.gcp.launcher import FirestoreLauncher

    settings = _gcp_settings(tmp_path).with_overrides(launcher="local")
    processes = WorkerProcesses(settings, command)
    client = firestore.Client(project=settings.gcp_project)
    launcher = FirestoreLauncher(client, collection=settings.workers_collection, starter=processes)
    try:
        yield Spawning(launcher, processes)
    finally:
        processes.stop(timeout_s=30)
        client.close()


def _check_gcp_url(
    backends: Backends, url: str, method: str, now: float, *, content_type: str | None = None
) -> None:
    # fake-gcs-server verifies nothing: check the V4 signature as Cloud Storage would.
    from cutout.gcp.signing import emulator_key
    from tests.support import v4_signatures

    v4_signatures.verify(
        url,
        method,
        public_key=emulator_key(PROJECT).public_key(),
        now=now,
        # what a browser sends: the upload answer's headers, the signed ones among them
        headers=backends.blobs.upload_headers(content_type) if content_type else None,
    )


FAMILIES: dict[str, Family] = {
    "local": Family(
        open=_open_local,
        spawn=_spawn_local,
        lease_s=2.0,
        retention_clock=_local_clock,
        set_retention_clock=_set_local_clock,
        check_url=_check_local_url,
    ),
    # Pub/Sub orders tiers per pull but not strictly FIFO within one.
    "gcp": Family(
        open=_open_gcp,
        spawn=_spawn_gcp,
        lease_s=10.0,
        retention_clock=_gcp_clock,
        set_retention_clock=_set_gcp_clock,
        strict_order=False,
        check_url=_check_gcp_url,
        marks=(pytest.mark.emulator,),
        fixtures=("gcp_settings",),
    ),
}


@pytest.fixture(params=[pytest.param(name, marks=f.marks) for name, f in FAMILIES.items()])
def family(request: pytest.FixtureRequest) -> Family:
    chosen = FAMILIES[request.param]
    for name in chosen.fixtures:
        request.getfixturevalue(name)
    return chosen


@pytest.fixture
def open_backends(family: Family, tmp_path: Path) -> Iterator[Callable[..., Backends]]:
    """Opens adapters of the family under test; keyword arguments override
    :class:`Overrides` fields. Everything opened is closed after the test."""
    with ExitStack() as stack:

        def _open(**overrides: Any) -> Backends:
            options = Overrides(**{"lease_s": family.lease_s, **overrides})
            return stack.enter_context(family.open(tmp_path, options))

        yield _open


@pytest.fixture
def backends(open_backends: Callable[..., Backends]) -> Backends:
    return open_backends()


@pytest.fixture
def make_job() -> Callable[..., Job]:
    """Builds a valid job; keyword arguments replace fields."""

    def _make(**fields: Any) -> Job:
        base: dict[str, Any] = {
            "id": new_job_id(),
            "input": InputInfo(
                key="uploads/abc", sha256="0" * 64, width=4, height=3, format="png", bytes=10
            ),
            "effects": [EffectRequest(name="cutout")],
        }
        return Job(**{**base, **fields})

    return _make
