"""The local family's retention: expired jobs, old uploads and old results are swept, a
bounded batch per sweep, by a sweeper driven by an injectable clock."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cutout.errors import TransientError
from cutout.job import EffectRequest, InputInfo, Job
from cutout.local import LocalBlobStore, SqliteStatusStore
from cutout.local import status as status_module
from cutout.local.retention import Retention, Sweeper, local_sweeper
from cutout.settings import Settings

DAY = 86400.0
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
RETENTION = Retention(upload_days=7, result_days=30)


def job(job_id: str, expire_at: datetime | None) -> Job:
    return Job(
        id=job_id,
        input=InputInfo(key="uploads/a", sha256="0" * 64, width=1, height=1, format="png", bytes=1),
        effects=[EffectRequest(name="color")],
        expire_at=expire_at,
    )


def aged(blobs: LocalBlobStore, key: str, days: float) -> str:
    """Store ``key`` last written ``days`` before NOW."""
    blobs.put(key, b"x", content_type="image/png")
    moment = NOW.timestamp() - days * DAY
    os.utime(blobs.root / key, (moment, moment))
    return key


@pytest.fixture
def blobs(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs", "http://x", "secret")


def keys(blobs: LocalBlobStore) -> set[str]:
    return {p.relative_to(blobs.root).as_posix() for p in blobs.root.rglob("*") if p.is_file()}


def test_the_settings_give_the_retention() -> None:
    retention = Retention.from_settings(Settings(upload_retention_days=2, result_retention_days=5))
    assert retention.max_age_s("uploads/abc") == 2 * DAY
    assert retention.max_age_s("results/abc.png") == 5 * DAY
    assert retention.max_age_s("uploadsx/abc") == 5 * DAY


def test_blobs_older_than_their_retention_are_deleted(blobs: LocalBlobStore) -> None:
    kept = {
        aged(blobs, "uploads/fresh", 6.9),
        aged(blobs, "results/fresh.png", 29.9),
    }
    aged(blobs, "uploads/old", 7.1)
    aged(blobs, "results/old.png", 30.1)
    assert blobs.sweep(NOW.timestamp(), RETENTION.max_age_s) == 2
    assert keys(blobs) == kept
    assert blobs.get("uploads/fresh") == b"x"


def test_a_touched_result_counts_from_its_touch(blobs: LocalBlobStore) -> None:
    key = aged(blobs, "results/hit.png", 40)
    os.utime(blobs.root / key, (NOW.timestamp() - DAY, NOW.timestamp() - DAY))
    assert blobs.sweep(NOW.timestamp(), RETENTION.max_age_s) == 0
    assert blobs.exists(key)


def test_stale_temporary_files_go_fresh_ones_stay(blobs: LocalBlobStore) -> None:
    folder = blobs.root / "results"
    folder.mkdir()
    stale, fresh = folder / ".a.png.1.tmp", folder / ".b.png.2.tmp"
    stale.write_bytes(b"partial")
    fresh.write_bytes(b"being written")
    two_hours_ago = NOW.timestamp() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    os.utime(fresh, (NOW.timestamp(), NOW.timestamp()))
    assert blobs.sweep(NOW.timestamp(), RETENTION.max_age_s) == 0
    assert not stale.exists() and fresh.exists()


def test_a_sweep_looks_at_a_bounded_number_of_files(blobs: LocalBlobStore) -> None:
    for i in range(7):
        aged(blobs, f"uploads/old{i}", 10)
    removed = [blobs.sweep(NOW.timestamp(), RETENTION.max_age_s, budget=3) for _ in range(4)]
    assert removed[:2] == [3, 3]
    assert sum(removed) == 7
    assert keys(blobs) == set()


def test_expired_jobs_are_deleted_a_batch_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteStatusStore(tmp_path / "s.db")
    for i in range(3):
        store.create(job(f"old{i}", NOW - timedelta(seconds=i + 1)))
    store.create(job("later", NOW + timedelta(days=1)))
    store.create(job("forever", None))
    monkeypatch.setattr(status_module, "SWEEP_BATCH", 2)
    assert store.sweep(NOW) == 2
    assert store.sweep(NOW) == 1
    assert store.sweep(NOW) == 0
    assert {j.id for j in store.find()} == {"later", "forever"}
    assert store.sweep(NOW + timedelta(days=2)) == 1


def test_a_database_from_before_retention_gets_its_expiry_column(tmp_path: Path) -> None:
    """Jobs stored by a version without the ``expire_at`` column are swept too."""
    path = tmp_path / "s.db"
    old = job("old", NOW - timedelta(days=1))
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE jobs (id TEXT PRIMARY KEY, state TEXT NOT NULL, client_key TEXT NOT"
            " NULL, batch_id TEXT, created_at REAL NOT NULL, doc TEXT NOT NULL)"
        )
        conn.execute(
            "INSERT INTO jobs VALUES (?, 'queued', 'anonymous', NULL, ?, ?)",
            ("old", old.created_at.timestamp(), old.model_dump_json()),
        )
    conn.close()
    store = SqliteStatusStore(path)
    assert store.get("old") == old
    assert store.sweep(NOW - timedelta(days=1, seconds=1)) == 0
    assert store.sweep(NOW) == 1


def test_the_sweeper_runs_when_due(tmp_path: Path, blobs: LocalBlobStore) -> None:
    clock = [NOW.timestamp()]
    store = SqliteStatusStore(tmp_path / "s.db")
    sweeper = Sweeper(store, blobs, RETENTION, every_s=60, clock=lambda: clock[0])
    store.create(job("soon", NOW + timedelta(seconds=30)))
    aged(blobs, "uploads/soon", 7 - 30 / DAY)
    first = sweeper.tick()
    assert first is not None and (first.jobs, first.blobs) == (0, 0)
    clock[0] += 45
    assert sweeper.tick() is None  # not due: nothing looked at
    assert store.find() != [] and blobs.exists("uploads/soon")
    clock[0] += 15
    swept = sweeper.tick()
    assert swept is not None and (swept.jobs, swept.blobs) == (1, 1)
    assert store.find() == [] and not blobs.exists("uploads/soon")


class BusyStore(SqliteStatusStore):
    def sweep(self, now: datetime) -> int:
        raise TransientError("database is busy", code="db_busy")


def test_a_failing_sweep_is_logged_and_tried_again_when_due(
    tmp_path: Path, blobs: LocalBlobStore, caplog: pytest.LogCaptureFixture
) -> None:
    clock = [NOW.timestamp()]
    store = BusyStore(tmp_path / "s.db")
    sweeper = Sweeper(store, blobs, RETENTION, every_s=60, clock=lambda: clock[0])
    assert sweeper.tick() is None
    assert "retention sweep failed" in caplog.text and "database is busy" in caplog.text
    store.sweep = lambda now: 0  # type: ignore[method-assign]
    assert sweeper.tick() is None  # not due yet
    clock[0] += 60
    assert sweeper.tick() is not None


def test_the_local_sweeper_opens_the_data_directory(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", url_secret="x", upload_retention_days=1)
    SqliteStatusStore(settings.db_path).create(job("gone", NOW - timedelta(days=1)))
    blobs = LocalBlobStore(settings.blob_dir, settings.public_url, "x")
    aged(blobs, "uploads/gone", 1.5)
    aged(blobs, "results/kept.png", 1.5)
    swept = local_sweeper(settings).sweep(NOW.timestamp())
    assert (swept.jobs, swept.blobs) == (1, 1)
    assert keys(blobs) == {"results/kept.png"}
