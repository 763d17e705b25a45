"""The worker's main loop, flat on purpose: drain dead letters, pull a batch (topping it up
for at most ``batch_wait_ms``), hand it to the batch pipeline, repeat. It exits when idle
for ``idle_exit_s``, when asked to stop (SIGTERM), or after ``max_batches`` (tests).

Up to ``PIPELINE_DEPTH`` batches are in flight: while one is being composed, rendered,
encoded and stored on the CPU, the next is pulled, decoded and segmented, so the
accelerator does not wait for the CPU. Decoded photos are bounded by a pixel budget
(:mod:`worker.budget`) and the device by a lock, so overlap never costs unbounded memory.

The model is built once per process, in a background thread started before the first
pull, so fetching and decoding the first batch overlaps the model's start-up.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from cutout.backends import Backends
from cutout.job import ErrorInfo, Job, JobState, WorkerInfo, utcnow
from cutout.ports.launcher import WorkerBeat
from cutout.ports.queue import Message
from cutout.settings import Settings
from worker.batch import BatchRunner
from worker.budget import PixelBudget
from worker.decode import decode_image
from worker.heartbeat import Heartbeat
from worker.render import Renderer
from worker.segmenters.base import Segmenter, build_segmenter

log = logging.getLogger(__name__)

#: Threads that encode and store results while later effects still compute.
STORE_THREADS = 2
#: Batches in flight at once: one on the device, one in CPU work.
PIPELINE_DEPTH = 2


@dataclass
class Worker:
    settings: Settings
    backends: Backends
    max_batches: int | None = None
    id: str = field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    )
    stopping: threading.Event = field(default_factory=threading.Event)
    process_started: float = field(default_factory=time.perf_counter)
    started_at: datetime = field(default_factory=utcnow)
    jobs_done: int = 0
    _in_flight: int = field(default=0, init=False)
    _fatal: BaseException | None = field(default=None, init=False)
    _idle_since: float = field(default=0.0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def stop(self) -> None:
        """Stop pulling; the batch in hand is finished or handed back."""
        self.stopping.set()

    def work(self) -> int:
        """Run until an exit condition; returns the number of jobs finished. A batch
        thread that dies with a non-``Exception`` stops the worker and is raised here."""
        s = self.settings
        decode_pool = ThreadPoolExecutor(s.decode_threads, thread_name_prefix="decode")
        store_pool = ThreadPoolExecutor(STORE_THREADS, thread_name_prefix="store")
        model_pool = ThreadPoolExecutor(1, thread_name_prefix="model")
        batch_pool = ThreadPoolExecutor(PIPELINE_DEPTH, thread_name_prefix="batch")
        model: Future[Segmenter] = model_pool.submit(build_segmenter, s)
        heartbeat = Heartbeat(self.backends.launcher, self._beat)
        renderer = Renderer(
            backends=self.backends,
            model_identity=s.model_identity,
            estimate_foreground=s.foreground,
            device=s.device,
            pool=store_pool,
            load_background=lambda key: decode_image(
                self.backends.blobs.get(key), max_pixels=s.max_pixels
            ),
        )
        budget = PixelBudget(s.memory_budget_mp * 1_000_000)
        device_lock = threading.Lock()
        slots = threading.BoundedSemaphore(PIPELINE_DEPTH)
        batches = 0
        self._idle_since = time.monotonic()
        log.info("worker %s started", self.id, extra={"fields": {"worker_id": self.id}})
        try:
            heartbeat.start()
            while not self.stopping.is_set():
                if model.done() and model.exception() is not None:
                    raise model.exception()  # type: ignore[misc]
                self._drain_dead_letters()
                if not slots.acquire(timeout=s.poll_s):
                    continue  # both batches still busy
                messages = self._pull()
                if not messages:
                    slots.release()
                    if self._idle_for() > s.idle_exit_s > 0:
                        log.info("worker %s: idle for %.0f s; exiting", self.id, s.idle_exit_s)
                        break
                    continue
                runner = BatchRunner(
                    settings=s,
                    backends=self.backends,
                    decode_pool=decode_pool,
                    renderer=renderer,
                    segmenter=model.result,
                    worker=self._worker_info(first=batches == 0),
                    stopping=self.stopping,
                    budget=budget,
                    device_lock=device_lock,
                )
                self._in_flight += 1
                batch_pool.submit(self._run_batch, runner, messages, slots)
                batches += 1
                if self.max_batches is not None and batches >= self.max_batches:
                    break
        finally:
            batch_pool.shutdown(wait=True)  # in-flight batches finish or hand their jobs back
            heartbeat.stop()
            self._goodbye()
            for pool in (decode_pool, store_pool, model_pool):
                pool.shutdown(wait=False, cancel_futures=True)
        if self._fatal is not None:
            raise self._fatal
        log.info("worker %s exiting after %d jobs", self.id, self.jobs_done)
        return self.jobs_done

    def _run_batch(
        self, runner: BatchRunner, messages: list[Message], slots: threading.BoundedSemaphore
    ) -> None:
        try:
            finished = runner.run(messages)
        except Exception:
            log.exception("worker %s: a batch failed; its messages will be redelivered", self.id)
            finished = 0
        except BaseException as exc:
            # Not a failed batch but a dying process (SystemExit, KeyboardInterrupt): stop
            # pulling and let work() raise it, as it would without the batch thread.
            self._fatal = exc
            self.stopping.set()
            finished = 0
        finally:
            with self._lock:
                self.jobs_done += finished
                self._in_flight -= 1
                self._idle_since = time.monotonic()
            slots.release()

    def _idle_for(self) -> float:
        """Seconds without any batch in flight (0 while one is)."""
        with self._lock:
            return 0.0 if self._in_flight else time.monotonic() - self._idle_since

    def _pull(self) -> list[Message]:
        s = self.settings
        queue = self.backends.queue
        messages = queue.pull(s.batch_size, wait_s=s.poll_s)
        deadline = time.monotonic() + s.batch_wait_ms / 1000
        while messages and len(messages) < s.batch_size and not self.stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            messages += queue.pull(s.batch_size - len(messages), wait_s=left)
        return messages

    def _drain_dead_letters(self) -> None:
        """Fail the jobs whose messages the queue gave up on, naming the last error."""
        queue = self.backends.queue
        for message in queue.pull_dead_letters(self.settings.batch_size):

            def fail(job: Job, attempts: int = message.attempt) -> None:
                last = f"; last error: {job.error.code}: {job.error.message}" if job.error else ""
                job.error = ErrorInfo(
                    code="dead_lettered",
                    message=f"gave up after {max(attempts, job.attempts)} attempts{last}",
                )
                job.timings.finished_at = utcnow()

            try:
                self.backends.status.transition(
                    message.job_id, [JobState.QUEUED, JobState.RUNNING], JobState.FAILED, fail
                )
                log.error("job %s: dead-lettered; marked failed", message.job_id)
            except Exception as exc:
                log.warning("job %s: dead letter not applied: %s", message.job_id, exc)
            queue.ack([message])

    def _worker_info(self, *, first: bool) -> WorkerInfo:
        if not first:
            return WorkerInfo(id=self.id, started_at=self.started_at)
        startup = {"process_to_first_batch_s": round(time.perf_counter() - self.process_started, 3)}
        return WorkerInfo(id=self.id, cold_start=True, startup=startup, started_at=self.started_at)

    def _beat(self) -> WorkerBeat:
        return WorkerBeat(
            worker_id=self.id, at=utcnow(), jobs_done=self.jobs_done, started_at=self.started_at
        )

    def _goodbye(self) -> None:
        try:
            self.backends.launcher.goodbye(self.id)
        except Exception:
            log.exception("worker %s: goodbye not recorded", self.id)
