"""The worker's main loop, flat on purpose: drain dead letters, pull a batch (topping it
up for at most ``batch_wait_ms``), hand it to the batch pipeline, repeat. It exits when
idle for ``idle_exit_s``, when asked to stop (SIGTERM), after ``max_batches`` (tests), or
on a fatal error (:mod:`cutout.policy`: the model cannot load, a store refuses access).

Up to ``PIPELINE_DEPTH`` batches are in flight: while one is being composed, rendered,
encoded and stored on the CPU, the next is pulled, decoded and segmented, so the
accelerator does not wait for the CPU. Everything the batches share is built once, in
:class:`~worker.pipeline.Pipeline`; when to top up a batch and when to exit idle are the
pure rules of :mod:`worker.rules`, read against an injectable clock.

A fatal error stops the worker after the first failure: the batches in hand hand their
jobs back (attempts refunded), the goodbye records why (the scaler backs off instead of
starting more workers that fail the same way), and :meth:`Worker.work` raises it for the
entry point to report, once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from cutout.backends import Backends
from cutout.errors import CutoutError
from cutout.job import WorkerInfo, utcnow
from cutout.policy import Retry, Verdict, classify
from cutout.ports.launcher import WorkerBeat
from cutout.ports.queue import Message
from cutout.settings import Settings
from worker import rules
from worker.batch import BatchRunner
from worker.dead_letters import drain_dead_letters
from worker.heartbeat import Heartbeat
from worker.life import LifeAccount, exit_fields
from worker.pipeline import Pipeline

log = logging.getLogger(__name__)

_T = TypeVar("_T")


@dataclass
class Worker:
    settings: Settings
    backends: Backends
    max_batches: int | None = None
    id: str = field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    )
    stopping: threading.Event = field(default_factory=threading.Event)
    clock: Callable[[], float] = time.monotonic
    process_started: float = field(default_factory=time.perf_counter)
    started_at: datetime = field(default_factory=utcnow)
    life: LifeAccount = field(init=False)
    _fatal: BaseException | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self.life = LifeAccount(
            self.id, self.started_at, self.clock, self.settings.start_requested_at
        )

    @property
    def jobs_done(self) -> int:
        """Jobs finished (done or failed) here so far."""
        return self.life.jobs_served

    def stop(self) -> None:
        """Stop pulling; the batch in hand is finished or handed back."""
        self.stopping.set()

    def work(self) -> int:
        """Run until an exit condition; returns the number of jobs finished. A fatal error
        (here or in a batch thread) stops the worker and is raised here."""
        s = self.settings
        pipeline = Pipeline(s, self.backends)
        self.life = LifeAccount(
            self.id, self.started_at, self.clock, self.settings.start_requested_at
        )  # idle from now
        heartbeat = Heartbeat(self.backends.launcher, self._beat, life=self.life.record)
        slots = threading.BoundedSemaphore(pipeline.depth)
        batches, end_reason = 0, "stopped"
        pipeline.when_ready(self.life.model_ready)
        fields = {"event": "worker_started", "worker_id": self.id}
        log.info("worker %s started", self.id, extra={"fields": fields})
        try:
            heartbeat.start()
            while not self.stopping.is_set():
                self._guarded(self._check_model, pipeline)
                self._guarded(self._drain_dead_letters)
                if not slots.acquire(timeout=s.poll_s):
                    continue  # every batch slot still busy
                messages = self._guarded(self._pull, pipeline) or []
                if not messages:
                    slots.release()
                    if self._should_exit_idle():
                        log.info("worker %s: idle for %.0f s; exiting", self.id, s.idle_exit_s)
                        end_reason = "idle"
                        break
                    continue
                runner = self._runner(pipeline, first=batches == 0)
                self.life.batch_began()
                pipeline.batch_pool.submit(self._run_batch, runner, messages, slots)
                batches += 1
                if rules.reached_max_batches(batches, self.max_batches):
                    end_reason = "max_batches"
                    break
        except BaseException as exc:
            self._record_fatal(exc)
        finally:
            pipeline.close()  # in-flight batches finish or hand their jobs back
            heartbeat.stop()
            self._goodbye(end_reason)
        if self._fatal is not None:
            raise self._fatal
        return self.jobs_done

    # -- one step at a time -------------------------------------------------------------

    def _guarded(self, step: Callable[..., _T], *args: object) -> _T | None:
        """Run a step of the loop: a fatal error propagates (and stops the worker), any
        other is logged and the loop carries on after a poll interval."""
        try:
            return step(*args)
        except Exception as exc:
            if classify(exc) is Verdict.STOP:
                raise
            log.warning("worker %s: %s failed: %s", self.id, step.__name__.strip("_"), exc)
            self.stopping.wait(self.settings.poll_s)
            return None

    def _check_model(self, pipeline: Pipeline) -> None:
        failure = pipeline.model_failure()
        if failure is not None:
            raise failure

    def _drain_dead_letters(self) -> None:
        s = self.settings
        retry = Retry.from_settings(s)
        drain_dead_letters(self.backends, max_messages=s.batch_size, retry=retry, worker_id=self.id)

    def _pull(self, pipeline: Pipeline) -> list[Message]:
        s = self.settings
        queue = self.backends.queue
        if self.stopping.is_set():  # a batch just stopped the worker
            return []
        messages = queue.pull(s.batch_size, wait_s=s.poll_s)
        first_at = self.clock()
        while (
            wait := rules.fill_wait(
                len(messages),
                s.batch_size,
                first_at=first_at,
                now=self.clock(),
                batch_wait_s=s.batch_wait_ms / 1000,
                stopping=self.stopping.is_set(),
                would_wait=self.life.idle_state()[0] > 0 or not pipeline.is_ready(),
            )
        ) is not None:
            messages += queue.pull(s.batch_size - len(messages), wait_s=wait)
        if messages and self.stopping.is_set():  # told to stop while pulling
            for message in messages:
                queue.nack(message, delay_s=0)
            return []
        return messages

    def _runner(self, pipeline: Pipeline, *, first: bool) -> BatchRunner:
        return BatchRunner(
            settings=self.settings,
            backends=self.backends,
            pipeline=pipeline,
            worker=self._worker_info(first=first),
            stopping=self.stopping,
        )

    def _run_batch(
        self, runner: BatchRunner, messages: list[Message], slots: threading.BoundedSemaphore
    ) -> None:
        finished = 0
        try:
            finished = runner.run(messages)
        except Exception as exc:
            if classify(exc) is Verdict.STOP:
                self._record_fatal(exc)
            else:
                log.exception(
                    "worker %s: a batch failed; its messages will be redelivered", self.id
                )
        except BaseException as exc:
            # Not a failed batch but a dying process (SystemExit, KeyboardInterrupt): stop
            # pulling and let work() raise it, as it would without the batch thread.
            self._record_fatal(exc)
        finally:
            self.life.batch_ended(finished)
            slots.release()

    def _record_fatal(self, exc: BaseException) -> None:
        """Keep the first fatal error (the one to report) and stop pulling."""
        with self._lock:
            if self._fatal is None:
                self._fatal = exc
                log.warning("worker %s: fatal error; handing its jobs back", self.id)
        self.stopping.set()

    def _should_exit_idle(self) -> bool:
        in_flight, idle_since = self.life.idle_state()
        return rules.should_exit_idle(
            in_flight, idle_since, self.clock(), self.settings.idle_exit_s
        )

    def _worker_info(self, *, first: bool) -> WorkerInfo:
        if not first:
            return WorkerInfo(id=self.id, started_at=self.started_at)
        startup = {"process_to_first_batch_s": round(time.perf_counter() - self.process_started, 3)}
        return WorkerInfo(id=self.id, cold_start=True, startup=startup, started_at=self.started_at)

    def _beat(self) -> WorkerBeat:
        return WorkerBeat(
            worker_id=self.id, at=utcnow(), jobs_done=self.jobs_done, started_at=self.started_at
        )

    def _goodbye(self, end_reason: str) -> None:
        """Say goodbye, with the reason if an error stopped this worker (not a dying
        process: SystemExit, KeyboardInterrupt), and close its lasting record."""
        failure = _describe(self._fatal) if isinstance(self._fatal, Exception) else None
        if self._fatal is not None:
            end_reason = "failed" if failure is not None else "killed"
        life = self.life.record(end_reason=end_reason)
        try:
            self.backends.launcher.record_life(life)
        except Exception:
            log.exception("worker %s: its life record not written", self.id)
        try:
            self.backends.launcher.goodbye(self.id, failure=failure)
        except Exception:
            log.exception("worker %s: goodbye not recorded", self.id)
        fields = exit_fields(life)
        log.info(
            "worker %s exiting after %d jobs", self.id, life.jobs_served, extra={"fields": fields}
        )


def _describe(exc: BaseException) -> str:
    """``code: message`` for our errors, ``Type: message`` for anything else."""
    if isinstance(exc, CutoutError):
        return f"{exc.code}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"
