"""Workers as subprocesses of this process: how launchers start workers on one machine.

Shared by the local launcher and by the GCP launcher's ``local`` mode (``cutout up
--backend gcp``: the Cloud Run Admin API has no emulator, so the workers run here while
their heartbeats and start records stay in Firestore).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

from cutout.job import utcnow
from cutout.settings import ENV_PREFIX, Settings

log = logging.getLogger(__name__)

WORKER_COMMAND = (sys.executable, "-m", "worker")

#: The process environment a worker runs with (here, in Dockerfile.worker, and in the
#: benchmarks that time the worker's path); variables the operator set are kept:
#:
#: - glibc malloc tuned for a worker that reuses 50-200 MB image buffers: without it every
#:   large array is fresh mmap'ed memory that must be paged in again, which made the
#:   effects 20-45% slower (effects/README.md, "Measured"); the price is that the process
#:   keeps its peak heap;
#: - OpenMP threads that sleep as soon as a parallel region ends instead of spinning for a
#:   few milliseconds: torch's helper thread spun 0.027 s of CPU per display rendition
#:   (0.005 s passive), against the effects and encodes on the same two cores; the model
#:   forward on CPU took as long either way (worker/MODEL.md, "Sixth pass");
#: - numpy's large arrays in ordinary 4 KB pages, not transparent huge pages: in these
#:   virtual machines a huge page the process had not touched before cost ~0.6 ms to
#:   fault in, so the first 12 MP decode in a thread took 0.55-0.59 s instead of
#:   0.06-0.09 s, and a fresh worker's first four-look display 0.90-1.08 s of CPU instead
#:   of 0.71-0.86 s; steady runs and the model forward were no slower (worker/MODEL.md,
#:   "Seventh pass").
WORKER_ENV = {
    "MALLOC_MMAP_THRESHOLD_": "2147483647",
    "MALLOC_TRIM_THRESHOLD_": "4294967295",
    "OMP_WAIT_POLICY": "PASSIVE",
    "NUMPY_MADVISE_HUGEPAGE": "0",
}


def run_as_a_worker_runs() -> None:
    """Re-execute this script with :data:`WORKER_ENV` unless it has it already: glibc
    reads its allocator variables at start, so a benchmark must be started with them."""
    if any(name not in os.environ for name in WORKER_ENV):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**WORKER_ENV, **os.environ})


def worker_env(settings: Settings) -> dict[str, str]:
    """The environment of a worker process started here with ``settings``: this process's
    variables except ``CUTOUT_*`` (``*_EMULATOR_HOST`` among them), :data:`WORKER_ENV`
    where not set, and the settings as ``CUTOUT_*`` variables."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    return {**WORKER_ENV, **inherited, **settings.to_env()}


class WorkerProcesses:
    """:meth:`start` spawns ``command`` (by default ``python -m worker``) in
    :func:`worker_env`. Children run in the parent's working directory and share its
    stdout/stderr, in its process group or in ``process_group``."""

    def __init__(
        self,
        settings: Settings,
        command: Sequence[str] = WORKER_COMMAND,
        *,
        process_group: int | None = None,
    ) -> None:
        self._settings = settings
        self._command = list(command)
        self._process_group = process_group
        self._lock = threading.Lock()
        self._procs: list[subprocess.Popen[bytes]] = []

    def start(self, count: int) -> None:
        """Spawn ``count`` workers; returns once they are spawned, not once they run."""
        if count < 0:
            raise ValueError(f"cannot start {count} workers")
        env = worker_env(self._settings.with_overrides(start_requested_at=utcnow()))
        with self._lock:
            self._procs = [p for p in self._procs if p.poll() is None]
            for _ in range(count):
                proc = subprocess.Popen(self._command, env=env, process_group=self._process_group)
                log.info("started worker process %d: %s", proc.pid, " ".join(self._command))
                self._procs.append(proc)

    def running(self) -> list[int]:
        """PIDs of the started workers that have not exited."""
        with self._lock:
            return [p.pid for p in self._procs if p.poll() is None]

    def stop(self, timeout_s: float = 10.0) -> None:
        """Terminate the started workers and wait for them: SIGTERM first, SIGKILL for any
        still running after ``timeout_s``."""
        with self._lock:
            procs, self._procs = self._procs, []
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + timeout_s
        for proc in procs:
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.0))
            except subprocess.TimeoutExpired:
                log.warning("worker process %d ignored SIGTERM; killing it", proc.pid)
                proc.kill()
                proc.wait()
