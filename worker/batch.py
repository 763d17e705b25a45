"""One batch, start to finish: claim the jobs, fetch and decode the photos in a thread
pool, segment them together, render each job's results, then ack or nack every message.

Memory: photos are decoded only once their pixels fit the worker's budget
(:mod:`worker.budget`); a batch too big for it is processed in consecutive chunks, and
each photo's share is given back as soon as its results are stored. The device is used
by one batch at a time (``device_lock``), so two batches in flight overlap their CPU work
(decode, compose, effects, encode, storage) with each other's inference.

Every message leaves this module acked or nacked, whatever happens:
- redelivered messages of finished jobs are acked without work (redelivery is normal);
- bad inputs fail their job with the input's error code and are acked;
- anything transient (storage, the model) nacks with exponential backoff and hands the
  job back to ``queued``; the queue dead-letters it after ``max_attempts`` deliveries;
- on shutdown, jobs not yet rendered are handed back at once for another worker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from cutout.backends import Backends
from cutout.errors import Conflict, InvalidInput, NotFound
from cutout.job import ErrorInfo, Job, JobState, ModelInfo, WorkerInfo, utcnow
from cutout.lease_keeper import LeaseKeeper
from cutout.metrics import submitted_at
from cutout.ports.queue import Message
from cutout.settings import Settings
from worker.budget import PixelBudget, chunks
from worker.decode import decode_image
from worker.preview import record_preview
from worker.render import Renderer
from worker.segmenters.base import Segmenter

log = logging.getLogger(__name__)

MAX_RETRY_DELAY_S = 300.0


@dataclass
class _Item:
    """A claimed job travelling through the batch."""

    message: Message
    job: Job
    stages: dict[str, float] = field(default_factory=dict)
    rgb: np.ndarray | None = None

    @property
    def pixels(self) -> int:
        return self.job.input.width * self.job.input.height


@dataclass
class BatchRunner:
    settings: Settings
    backends: Backends
    decode_pool: Executor
    renderer: Renderer
    segmenter: Callable[[], Segmenter]
    worker: WorkerInfo
    stopping: threading.Event
    budget: PixelBudget
    device_lock: threading.Lock

    def run(self, messages: Sequence[Message]) -> int:
        """Process a batch; returns how many jobs finished (done or failed) here."""
        queue = self.backends.queue
        with LeaseKeeper(queue, messages, lease_s=self.settings.lease_s) as leases:
            items = [item for m in messages if (item := self._claim(m, leases)) is not None]
            finished = 0
            for run in chunks([item.pixels for item in items], self.budget.capacity):
                finished += self._run_chunk([items[i] for i in run], leases)
            return finished

    def _run_chunk(self, items: list[_Item], leases: LeaseKeeper) -> int:
        held = {item.job.id: item.pixels for item in items}
        self.budget.acquire(sum(held.values()))
        try:
            if self.stopping.is_set():
                self._release_all(items, leases)
                return 0
            items = self._decode(items, leases)
            if not items:
                return 0
            try:
                alphas, seconds = self._segment(items)
            except InvalidInput:
                items, alphas, seconds = self._segment_one_by_one(items, leases)
            except Exception as exc:
                log.exception("segmenting a batch of %d failed", len(items))
                for item in items:
                    self._retry(item, exc, leases)
                return 0
            finished = 0
            for item, alpha in zip(items, alphas, strict=True):
                if self.stopping.is_set():
                    self._release(item, leases)
                    continue
                item.stages["segment"] = seconds
                item.stages["batch_size"] = len(items)
                finished += self._render(item, alpha, leases)
                self.budget.release(held.pop(item.job.id))
            return finished
        finally:
            self.budget.release(sum(held.values()))

    # -- stages -----------------------------------------------------------------------

    def _claim(self, message: Message, leases: LeaseKeeper) -> _Item | None:
        def start(job: Job) -> None:
            job.attempts += 1
            job.timings.started_at = utcnow()
            job.worker = with_warmth(self.worker, job)

        try:
            job = self.backends.status.transition(
                message.job_id, [JobState.QUEUED, JobState.RUNNING], JobState.RUNNING, start
            )
        except NotFound:
            log.warning("job %s: no such job (expired?); dropping its message", message.job_id)
            self._ack(message, leases)
            return None
        except Conflict:
            log.info("job %s: already finished; acking the redelivery", message.job_id)
            self._ack(message, leases)
            return None
        except Exception:
            log.exception("job %s: claiming failed; will retry", message.job_id)
            self._nack(message, leases, delay_s=self._backoff(message))
            return None
        return _Item(message=message, job=job)

    def _decode(self, items: list[_Item], leases: LeaseKeeper) -> list[_Item]:
        futures = [(item, self.decode_pool.submit(self._fetch_and_decode, item)) for item in items]
        ready = []
        for item, future in futures:
            try:
                item.rgb = future.result()
                ready.append(item)
            except InvalidInput as exc:
                self._fail(item, ErrorInfo(code=exc.code, message=exc.message), leases)
            except NotFound as exc:
                self._fail(item, ErrorInfo(code="input_missing", message=exc.message), leases)
            except Exception as exc:
                log.exception("job %s: fetching or decoding the input failed", item.job.id)
                self._retry(item, exc, leases)
        return ready

    def _fetch_and_decode(self, item: _Item) -> np.ndarray:
        mark = time.perf_counter()
        data = self.backends.blobs.get(item.job.input.key)
        item.stages["fetch"] = _since(mark)
        mark = time.perf_counter()
        rgb = decode_image(data, max_pixels=self.settings.max_pixels)
        item.stages["decode"] = _since(mark)
        mark = time.perf_counter()
        record_preview(self.backends, item.job, rgb)
        item.stages["preview"] = _since(mark)
        return rgb

    def _segment(self, items: list[_Item]) -> tuple[list[np.ndarray], float]:
        segmenter = self.segmenter()
        with self.device_lock:
            mark = time.perf_counter()
            alphas = segmenter.segment([item.rgb for item in items if item.rgb is not None])
            return alphas, _since(mark)

    def _segment_one_by_one(
        self, items: list[_Item], leases: LeaseKeeper
    ) -> tuple[list[_Item], list[np.ndarray], float]:
        """A photo the segmenter refuses fails its own job, not its batch-mates'."""
        kept: list[_Item] = []
        alphas: list[np.ndarray] = []
        seconds = 0.0
        for item in items:
            try:
                [alpha], took = self._segment([item])
            except InvalidInput as exc:
                self._fail(item, ErrorInfo(code=exc.code, message=exc.message), leases)
                continue
            except Exception as exc:
                log.exception("job %s: segmenting failed", item.job.id)
                self._retry(item, exc, leases)
                continue
            kept.append(item)
            alphas.append(alpha)
            seconds += took
        return kept, alphas, seconds

    def _render(self, item: _Item, alpha: np.ndarray, leases: LeaseKeeper) -> int:
        job = item.job
        assert item.rgb is not None
        try:
            rendered = self.renderer.render(job, item.rgb, alpha)
        except Exception as exc:
            log.exception("job %s: rendering failed", job.id)
            self._retry(item, exc, leases)
            return 0
        item.rgb = None
        stages = {**item.stages, **rendered.stages}
        segmenter = self.segmenter()

        def finish(j: Job) -> None:
            j.timings.finished_at = utcnow()
            j.timings.stages.update(stages)
            j.model = ModelInfo.model_validate(segmenter.info.model_dump())
            if j.worker is not None and j.worker.cold_start:
                j.worker.startup.update(segmenter.startup)
            if rendered.all_failed:
                j.error = ErrorInfo(code="all_effects_failed", message="every effect failed")
            else:
                j.error = None

        new_state = JobState.FAILED if rendered.all_failed else JobState.DONE
        try:
            self.backends.status.transition(job.id, [JobState.RUNNING], new_state, finish)
        except Conflict:
            log.info("job %s: another delivery finished it first", job.id)
        except Exception as exc:
            log.exception("job %s: recording the outcome failed", job.id)
            self._retry(item, exc, leases)
            return 0
        self._ack(item.message, leases)
        log.info(
            "job %s: %s",
            job.id,
            new_state.value,
            extra={"fields": {"job_id": job.id, "stages": stages, "attempt": job.attempts}},
        )
        return 1

    # -- outcomes ---------------------------------------------------------------------

    def _fail(self, item: _Item, error: ErrorInfo, leases: LeaseKeeper) -> None:
        log.warning("job %s: failed: %s: %s", item.job.id, error.code, error.message)

        def record(job: Job) -> None:
            job.error = error
            job.timings.finished_at = utcnow()
            job.timings.stages.update(item.stages)

        try:
            self.backends.status.transition(
                item.job.id, [JobState.RUNNING], JobState.FAILED, record
            )
        except Conflict:
            log.info("job %s: another delivery finished it first", item.job.id)
        except Exception:
            log.exception("job %s: recording the failure failed; will retry", item.job.id)
            self._nack(item.message, leases, delay_s=self._backoff(item.message))
            return
        self._ack(item.message, leases)

    def _retry(self, item: _Item, exc: Exception, leases: LeaseKeeper) -> None:
        """Hand the job back with the error noted; the queue redelivers it after a backoff
        (or dead-letters it once it has had ``max_attempts`` deliveries)."""
        error = ErrorInfo(code="transient", message=f"{type(exc).__name__}: {exc}")

        def note(job: Job) -> None:
            job.error = error

        self._hand_back(item, note)
        delay = min(self.settings.retry_base_s * 2 ** (item.message.attempt - 1), MAX_RETRY_DELAY_S)
        self._nack(item.message, leases, delay_s=delay)

    def _release(self, item: _Item, leases: LeaseKeeper) -> None:
        log.info("job %s: shutting down; handing it back", item.job.id)
        self._hand_back(item, None)
        self._nack(item.message, leases, delay_s=0)

    def _release_all(self, items: list[_Item], leases: LeaseKeeper) -> None:
        for item in items:
            self._release(item, leases)

    def _hand_back(self, item: _Item, note: Callable[[Job], None] | None) -> None:
        try:
            self.backends.status.transition(item.job.id, [JobState.RUNNING], JobState.QUEUED, note)
        except Exception:
            log.exception("job %s: could not hand the job back; the lease will", item.job.id)

    def _backoff(self, message: Message) -> float:
        return min(self.settings.retry_base_s * 2 ** (message.attempt - 1), MAX_RETRY_DELAY_S)

    def _ack(self, message: Message, leases: LeaseKeeper) -> None:
        """Acks and nacks never crash the worker: if the queue is unreachable, the lease
        runs out and the message comes back, which every step here tolerates."""
        leases.release(message)
        try:
            self.backends.queue.ack([message])
        except Exception:
            log.exception("job %s: ack failed; it will be redelivered", message.job_id)

    def _nack(self, message: Message, leases: LeaseKeeper, *, delay_s: float) -> None:
        leases.release(message)
        try:
            self.backends.queue.nack(message, delay_s=delay_s)
        except Exception:
            log.exception("job %s: nack failed; its lease will run out", message.job_id)


def _since(mark: float) -> float:
    return round(time.perf_counter() - mark, 4)


def with_warmth(worker: WorkerInfo, job: Job) -> WorkerInfo:
    """``worker`` as recorded in ``job``: ``warm`` when it was running before the job was
    submitted (what warming on intent buys: no start to wait for)."""
    if worker.started_at is None:
        return worker
    return worker.model_copy(update={"warm": worker.started_at <= submitted_at(job)})
