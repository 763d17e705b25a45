"""One batch, start to finish: claim the jobs, fetch and decode the photos in a thread
pool, segment them together (each photo's preview is made meanwhile), render each job's
results, then ack or nack every message.

Memory: photos are decoded only once their pixels fit the worker's budget
(:mod:`worker.budget`); a batch too big for it is processed in consecutive chunks, and
each photo's share is given back as soon as its results are stored. The device is used
by one batch at a time (the pipeline's device lock), so two batches in flight overlap
their CPU work (decode, compose, effects, encode, storage) with each other's inference.

Every failure is handled by the one error policy (:mod:`cutout.policy`), and every
message leaves this module acked or nacked, whatever happens:
- redelivered messages of finished jobs are acked without work (redelivery is normal);
- bad inputs fail their job with the input's error code and are acked, among them an
  input whose bytes no longer hash to the job's sha256 (``input_changed``,
  cutout/integrity.py), checked before anything is computed or stored from them;
- anything else that goes wrong with one job hands it back and nacks it with the retry
  backoff; the queue dead-letters it after ``max_attempts`` deliveries. A batch the
  segmenter rejects is segmented one photo at a time, so a poison photo fails alone;
- on shutdown, or any error that escapes a job (raised once the batch is settled),
  jobs not yet finished are handed back, their attempt refunded, for another worker. A
  dying process (``BaseException``) settles nothing: its leases run out, as on SIGKILL.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from cutout import lifecycle, results
from cutout.backends import Backends
from cutout.codes import ErrorCode
from cutout.errors import Conflict, CutoutError, NotFound
from cutout.job import ErrorInfo, Job, WorkerInfo
from cutout.lease_keeper import LeaseKeeper
from cutout.log_fields import log_finished
from cutout.policy import Retry, Verdict, classify, is_expected
from cutout.ports.queue import Message
from cutout.settings import Settings
from worker.budget import chunks
from worker.deliver import deliver_and_finish
from worker.fetch import budgeted_pixels, fetch_and_decode
from worker.pipeline import Pipeline
from worker.preview import record_preview
from worker.segmenters.base import Matte
from worker.timing import since

log = logging.getLogger(__name__)


@dataclass
class _Item:
    """A claimed job travelling through the batch."""

    message: Message
    job: Job
    stages: dict[str, float] = field(default_factory=dict)
    rgb: np.ndarray | None = None
    preview: Future[None] | None = None

    @property
    def pixels(self) -> int:
        return budgeted_pixels(self.job.input)


@dataclass
class BatchRunner:
    settings: Settings
    backends: Backends
    pipeline: Pipeline
    worker: WorkerInfo
    stopping: threading.Event
    _settled: set[str] = field(default_factory=set, init=False)

    @property
    def retry(self) -> Retry:
        return Retry.from_settings(self.settings)

    @property
    def _hand_back_delay(self) -> float:
        return self.settings.poll_s + self.settings.batch_wait_ms / 1000

    def run(self, messages: Sequence[Message]) -> int:
        """Process a batch; returns how many jobs finished (done or failed) here."""
        queue = self.backends.queue
        items: list[_Item] = []
        with LeaseKeeper(queue, messages, lease_s=self.settings.lease_s) as leases:
            try:
                for message in messages:
                    if (item := self._claim(message, leases)) is not None:
                        items.append(item)
                finished = 0
                for run in chunks([item.pixels for item in items], self.pipeline.budget.capacity):
                    finished += self._run_chunk([items[i] for i in run], leases)
            except Exception as exc:  # not a dying process (its leases simply run out)
                if classify(exc) is Verdict.STOP:
                    self.stopping.set()  # before handing back: no new pull may take them
                self._settle_the_rest(messages, items, leases)
                raise
            self._settle_the_rest(messages, items, leases)
            return finished

    def _run_chunk(self, items: list[_Item], leases: LeaseKeeper) -> int:
        budget = self.pipeline.budget
        held = {item.job.id: item.pixels for item in items}
        budget.acquire(sum(held.values()))
        try:
            if self.stopping.is_set():
                return 0  # handed back by run()
            items = self._decode(items, leases)
            items, alphas, seconds = self._segment_batch(items, leases)
            finished = 0
            for item, alpha in zip(items, alphas, strict=True):
                if self.stopping.is_set():
                    break
                item.stages["segment"] = seconds
                item.stages["batch_size"] = len(items)
                finished += self._render(item, alpha, leases)
                budget.release(held.pop(item.job.id))
            return finished
        finally:
            budget.release(sum(held.values()))

    # -- stages -----------------------------------------------------------------------

    def _claim(self, message: Message, leases: LeaseKeeper) -> _Item | None:
        try:
            job = lifecycle.claim(self.backends.status, message.job_id, self.worker)
        except NotFound:
            log.warning("job %s: no such job (expired?); dropping its message", message.job_id)
            self._ack(message, leases)
            return None
        except Conflict:
            log.info("job %s: already finished; acking the redelivery", message.job_id)
            self._ack(message, leases)
            return None
        except Exception as exc:
            if classify(exc) is Verdict.STOP:
                raise
            _log_failure(message.job_id, "claiming", exc)
            self._nack(message, leases, delay_s=self.retry.delay(message.attempt))
            return None
        return _Item(message=message, job=job)

    def _decode(self, items: list[_Item], leases: LeaseKeeper) -> list[_Item]:
        pool = self.pipeline.decode_pool
        futures = [(item, pool.submit(self._fetch_and_decode, item)) for item in items]
        ready = []
        for item, future in futures:
            try:
                future.result()
                ready.append(item)
            except Exception as exc:
                self._handle(item, exc, leases, "fetching or decoding the input")
        return ready

    def _fetch_and_decode(self, item: _Item) -> None:
        """Fetch and decode the photo, then start its preview (made during segmentation)."""
        max_pixels = self.settings.max_pixels
        item.rgb, item.job = fetch_and_decode(self.backends, item.job, max_pixels, item.stages)
        item.preview = self.pipeline.preview_pool.submit(
            record_preview, self.backends, item.job, item.rgb, item.stages
        )

    def _segment_batch(
        self, items: list[_Item], leases: LeaseKeeper
    ) -> tuple[list[_Item], list[Matte], float]:
        """Segment the photos together; if that fails (and it is not fatal), one at a
        time, so that a photo the model rejects or chokes on fails only its own job."""
        if len(items) > 1:
            try:
                alphas, seconds = self._segment(items)
                return items, alphas, seconds
            except Exception as exc:
                if classify(exc) is Verdict.STOP:
                    raise
                log.warning("segmenting a batch of %d failed (%s); one by one", len(items), exc)
        kept: list[_Item] = []
        mattes: list[Matte] = []
        seconds = 0.0
        for item in items:
            try:
                [alpha], took = self._segment([item])
            except Exception as exc:
                self._handle(item, exc, leases, "segmenting")
                continue
            kept.append(item)
            mattes.append(alpha)
            seconds += took
        return kept, mattes, seconds

    def _segment(self, items: list[_Item]) -> tuple[list[Matte], float]:
        """Mattes for ``items``, one model pass per distinct input (worker/coalesce.py)."""
        segmenter = self.pipeline.segmenter()
        ready = [(results.input_identity(i.job), i.rgb) for i in items if i.rgb is not None]
        with self.pipeline.device_lock:
            mark = time.perf_counter()
            alphas = self.pipeline.memo.segment(
                [key for key, _ in ready], [rgb for _, rgb in ready], segmenter.mattes
            )
            return alphas, since(mark)

    def _render(self, item: _Item, alpha: Matte, leases: LeaseKeeper) -> int:
        job = item.job
        assert item.rgb is not None and item.preview is not None
        item.preview.result()  # the preview is recorded before any result
        mark = time.perf_counter()
        try:
            rendered = self.pipeline.renderer.render(job, item.rgb, alpha)
        except Exception as exc:
            self._handle(item, exc, leases, "rendering")
            return 0
        item.rgb = None
        stages = {**item.stages, **rendered.stages, "render": since(mark)}
        segmenter = self.pipeline.segmenter()
        try:
            finished = deliver_and_finish(
                self.backends,
                job,
                model=segmenter.info,
                stages=stages,
                startup=segmenter.startup,
                all_failed=rendered.all_failed,
            )
        except Conflict:
            log.info("job %s: finished (or cancelled) by someone else first", job.id)
        except Exception as exc:
            self._handle(item, exc, leases, "recording the outcome")
            return 0
        else:
            log_finished(log, finished, self.worker.id, stages=stages, attempt=finished.attempts)
        self._ack(item.message, leases)
        return 1

    # -- outcomes ---------------------------------------------------------------------

    def _handle(self, item: _Item, exc: Exception, leases: LeaseKeeper, doing: str) -> None:
        """The error policy for one job: fail it (bad input), retry it, or (fatal) raise."""
        verdict = classify(exc)
        if verdict is Verdict.STOP:
            raise exc
        if verdict is Verdict.FAIL and isinstance(exc, CutoutError):
            self._fail(item, ErrorInfo(code=exc.code, message=exc.message), leases)
            return
        _log_failure(item.job.id, doing, exc)
        self._retry(item, exc, leases)

    def _fail(self, item: _Item, error: ErrorInfo, leases: LeaseKeeper) -> None:
        try:
            failed = lifecycle.fail(self.backends.status, item.job.id, error, stages=item.stages)
        except Conflict:
            log.info("job %s: finished (or cancelled) by someone else first", item.job.id)
        except Exception as exc:
            if classify(exc) is Verdict.STOP:
                raise
            _log_failure(item.job.id, "recording the failure", exc)
            self._nack(item.message, leases, delay_s=self.retry.delay(item.message.attempt))
            return
        log_finished(log, failed, self.worker.id)
        self._ack(item.message, leases)

    def _retry(self, item: _Item, exc: Exception, leases: LeaseKeeper) -> None:
        """Hand the job back with the error noted; the queue redelivers it after a backoff
        (or dead-letters it once it has had ``max_attempts`` deliveries)."""
        error = ErrorInfo(code=ErrorCode.TRANSIENT, message=f"{type(exc).__name__}: {exc}")
        self._hand_back(item, error=error, refund=False)
        self._nack(item.message, leases, delay_s=self.retry.delay(item.message.attempt))

    def _settle_the_rest(
        self, messages: Sequence[Message], items: list[_Item], leases: LeaseKeeper
    ) -> None:
        """Hand back every claimed job not yet settled (shutdown, a fatal error) with its
        attempt refunded, and give back every message not yet acked or nacked, visible
        again once any pull this stopping worker still has in flight is over (one poll
        plus one top-up): another worker takes it then, this one no longer can."""
        for item in items:
            if item.message.lease_id not in self._settled:
                log.info("job %s: not finished here; handing it back", item.job.id)
                self._hand_back(item, error=None, refund=True)
        for message in messages:
            if message.lease_id not in self._settled:
                self._nack(message, leases, delay_s=self._hand_back_delay)

    def _hand_back(self, item: _Item, *, error: ErrorInfo | None, refund: bool) -> None:
        try:
            lifecycle.hand_back(self.backends.status, item.job.id, error=error, refund=refund)
        except Exception:
            log.exception("job %s: could not hand the job back; the lease will", item.job.id)

    def _ack(self, message: Message, leases: LeaseKeeper) -> None:
        """Acks and nacks never crash the worker: if the queue is unreachable, the lease
        runs out and the message comes back, which every step here tolerates."""
        self._settled.add(message.lease_id)
        leases.release(message)
        try:
            self.backends.queue.ack([message])
        except Exception:
            log.exception("job %s: ack failed; it will be redelivered", message.job_id)

    def _nack(self, message: Message, leases: LeaseKeeper, *, delay_s: float) -> None:
        self._settled.add(message.lease_id)
        leases.release(message)
        try:
            self.backends.queue.nack(message, delay_s=delay_s)
        except Exception:
            log.exception("job %s: nack failed; its lease will run out", message.job_id)


def _log_failure(job_id: str, doing: str, exc: BaseException) -> None:
    """One line for an error we raise on purpose, the traceback for a surprise."""
    if is_expected(exc):
        log.warning("job %s: %s failed; will retry: %s", job_id, doing, exc)
    else:
        log.error("job %s: %s failed; will retry", job_id, doing, exc_info=exc)
