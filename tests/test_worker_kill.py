"""A worker process killed with SIGKILL in the middle of a batch loses nothing: once its
leases run out, another worker takes the jobs, and every job ends ``done`` exactly once.
Real processes (``python -m worker``), real SQLite, the weights-free segmenter."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cutout.backends import open_backends
from cutout.job import ClientInfo, JobState, OutputSpec, Priority
from cutout.samples import jpeg_bytes, photo_like
from cutout.settings import Settings
from ingest.service import IngestService, Submission

pytestmark = pytest.mark.slow


def start_worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, **settings.to_env()}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "worker"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def test_sigkill_mid_batch_then_every_job_finishes_exactly_once(
    settings: Settings, tmp_path: Path
) -> None:
    settings = settings.with_overrides(
        segmenter="grabcut",
        lease_s=10,
        batch_size=3,
        batch_wait_ms=500,
        idle_exit_s=15.0,  # longer than the lease, so it sees the redeliveries
        poll_s=0.5,
        autoscale=False,
    )
    backends = open_backends(settings)
    service = IngestService(settings, backends)
    ids = [
        service.submit(
            Submission(
                effects=[("color", {})],
                output=OutputSpec(),
                priority=Priority.STANDARD,
                client=ClientInfo(),
                data=jpeg_bytes(photo_like(4000, 3000, seed=i)),
            )
        ).job.id
        for i in range(3)
    ]
    log = tmp_path / "workers.log"
    victim = start_worker(settings, log)
    deadline = time.monotonic() + 120
    while not any(backends.status.get(i).state is JobState.RUNNING for i in ids):
        assert victim.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    killed_mid_batch = [i for i in ids if backends.status.get(i).state is JobState.RUNNING]
    assert killed_mid_batch, "the kill should land while jobs are running"

    survivor = start_worker(settings, log)
    assert survivor.wait(timeout=300) == 0, log.read_text()

    for job_id in ids:
        job = backends.status.get(job_id)
        assert job.state is JobState.DONE, (job_id, job.error, log.read_text())
        assert set(job.results) == {"color"}
        assert backends.blobs.exists(job.results["color"].key)
    assert all(backends.status.get(i).attempts == 2 for i in killed_mid_batch)
    assert backends.queue.depth() == {p: 0 for p in backends.queue.depth()}
    assert backends.queue.pull_dead_letters(10) == []
    done_lines = [
        line
        for line in log.read_text().splitlines()
        if '"message": "job ' in line and ': done"' in line
    ]
    assert len(done_lines) == len(ids), "each job is finished exactly once"
