"""A background thread that tells the launcher this worker is alive, so ingest scales
from what is really running instead of guessing, and rewrites the worker's lasting life
record (so a worker that vanishes without a goodbye leaves its latest account)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from cutout.ports.launcher import Launcher, WorkerBeat
from cutout.worker_life import WorkerLife

log = logging.getLogger(__name__)

BEAT_EVERY_S = 5.0


class Heartbeat:
    def __init__(
        self,
        launcher: Launcher,
        beat: Callable[[], WorkerBeat],
        *,
        life: Callable[[], WorkerLife] | None = None,
        every_s: float = BEAT_EVERY_S,
    ) -> None:
        self._launcher = launcher
        self._beat = beat
        self._life = life
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> None:
        self._send()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            self._send()

    def _send(self) -> None:
        try:
            self._launcher.beat(self._beat())
            if self._life is not None:
                self._launcher.record_life(self._life())
        except Exception:
            log.exception("heartbeat not recorded; will retry")
