"""One batch, start to finish: claim the jobs, fetch and decode the photos in a thread
pool, segment them together (each photo's preview is made meanwhile), render each job's
results, then ack or nack every message.

Memory: photos are decoded only once their pixels fit the worker's budget
(:mod:`worker.budget`); a batch too big for it is processed in consecutive chunks, and
each photo's share is given back as soon as its results are stored. The device is used
by one batch at a time (the pipeline's device lock), so two batches in flight overlap
their CPU work (decode, compose, effects, encode, storage) with each other's inference.

Every failure is handled by the one error policy (:mod:`cutout.policy`, applied by
:mod:`worker.outcomes`), and every message leaves this module acked or nacked, whatever
happens:
- redelivered messages of finished jobs are acked without work (redelivery is normal),
  and so is a second message for a job already in the batch (a publish retried, or a
  lease that ran out while the batch was topped up): the job runs once;
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
from dataclasses import dataclass

from cutout import lifecycle, results
from cutout.backends import Backends
from cutout.errors import Conflict, NotFound
from cutout.job import WorkerInfo
from cutout.lease_keeper import LeaseKeeper
from cutout.log_fields import log_finished
from cutout.policy import Verdict, classify
from cutout.ports.queue import Message
from cutout.settings import Settings
from worker.budget import chunks
from worker.deliver import deliver_and_finish
from worker.fetch import fetch_and_decode
from worker.outcomes import Claimed, Outcomes, log_failure
from worker.pipeline import Pipeline
from worker.preview import record_preview
from worker.segmenters.base import Matte
from worker.timing import since

log = logging.getLogger(__name__)


@dataclass
class BatchRunner:
    settings: Settings
    backends: Backends
    pipeline: Pipeline
    worker: WorkerInfo
    stopping: threading.Event

    def run(self, messages: Sequence[Message]) -> int:
        """Process a batch; returns how many jobs finished (done or failed) here."""
        queue = self.backends.queue
        items: list[Claimed] = []
        with LeaseKeeper(queue, messages, lease_s=self.settings.lease_s) as leases:
            outcomes = Outcomes(self.settings, self.backends, leases, self.worker.id)
            try:
                for message in messages:
                    if any(item.job.id == message.job_id for item in items):
                        log.info("job %s: a second message in one batch; acked", message.job_id)
                        outcomes.ack(message)
                    elif (item := self._claim(message, outcomes)) is not None:
                        items.append(item)
                finished = 0
                for run in chunks([item.pixels for item in items], self.pipeline.budget.capacity):
                    finished += self._run_chunk([items[i] for i in run], outcomes)
            except Exception as exc:  # not a dying process (its leases simply run out)
                if classify(exc) is Verdict.STOP:
                    self.stopping.set()  # before handing back: no new pull may take them
                outcomes.settle_the_rest(messages, items)
                raise
            outcomes.settle_the_rest(messages, items)
            return finished

    def _run_chunk(self, items: list[Claimed], outcomes: Outcomes) -> int:
        budget = self.pipeline.budget
        held = {item.job.id: item.pixels for item in items}
        budget.acquire(sum(held.values()))
        try:
            if self.stopping.is_set():
                return 0  # handed back by run()
            items = self._decode(items, outcomes)
            items, alphas, seconds = self._segment_batch(items, outcomes)
            finished = 0
            for item, alpha in zip(items, alphas, strict=True):
                if self.stopping.is_set():
                    break
                item.stages["segment"] = seconds
                item.stages["batch_size"] = len(items)
                finished += self._render(item, alpha, outcomes)
                budget.release(held.pop(item.job.id))
            return finished
        finally:
            budget.release(sum(held.values()))

    # -- stages -----------------------------------------------------------------------

    def _claim(self, message: Message, outcomes: Outcomes) -> Claimed | None:
        try:
            job = lifecycle.claim(self.backends.status, message.job_id, self.worker)
        except NotFound:
            log.warning("job %s: no such job (expired?); dropping its message", message.job_id)
            outcomes.ack(message)
            return None
        except Conflict:
            log.info("job %s: already finished; acking the redelivery", message.job_id)
            outcomes.ack(message)
            return None
        except Exception as exc:
            if classify(exc) is Verdict.STOP:
                raise
            log_failure(message.job_id, "claiming", exc)
            outcomes.nack(message, delay_s=outcomes.retry.delay(message.attempt))
            return None
        return Claimed(message=message, job=job)

    def _decode(self, items: list[Claimed], outcomes: Outcomes) -> list[Claimed]:
        pool = self.pipeline.decode_pool
        futures = [(item, pool.submit(self._fetch_and_decode, item)) for item in items]
        ready = []
        for item, future in futures:
            try:
                future.result()
                ready.append(item)
            except Exception as exc:
                outcomes.handle(item, exc, "fetching or decoding the input")
        return ready

    def _fetch_and_decode(self, item: Claimed) -> None:
        """Fetch and decode the photo, then start its preview (made during segmentation)."""
        max_pixels = self.settings.max_pixels
        item.rgb, item.job = fetch_and_decode(self.backends, item.job, max_pixels, item.stages)
        item.preview = self.pipeline.preview_pool.submit(
            record_preview, self.backends, item.job, item.rgb, item.stages
        )

    def _segment_batch(
        self, items: list[Claimed], outcomes: Outcomes
    ) -> tuple[list[Claimed], list[Matte], float]:
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
        kept: list[Claimed] = []
        mattes: list[Matte] = []
        seconds = 0.0
        for item in items:
            try:
                [alpha], took = self._segment([item])
            except Exception as exc:
                outcomes.handle(item, exc, "segmenting")
                continue
            kept.append(item)
            mattes.append(alpha)
            seconds += took
        return kept, mattes, seconds

    def _segment(self, items: list[Claimed]) -> tuple[list[Matte], float]:
        """Mattes for ``items``, one model pass per distinct input (worker/coalesce.py)."""
        segmenter = self.pipeline.segmenter()
        ready = [(results.input_identity(i.job), i.rgb) for i in items if i.rgb is not None]
        with self.pipeline.device_lock:
            mark = time.perf_counter()
            alphas = self.pipeline.memo.segment(
                [key for key, _ in ready], [rgb for _, rgb in ready], segmenter.mattes
            )
            return alphas, since(mark)

    def _render(self, item: Claimed, alpha: Matte, outcomes: Outcomes) -> int:
        job = item.job
        assert item.rgb is not None and item.preview is not None
        item.preview.result()  # the preview is recorded before any result
        mark = time.perf_counter()
        try:
            rendered = self.pipeline.renderer.render(job, item.rgb, alpha)
        except Exception as exc:
            outcomes.handle(item, exc, "rendering")
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
            outcomes.handle(item, exc, "recording the outcome")
            return 0
        else:
            log_finished(log, finished, self.worker.id, stages=stages, attempt=finished.attempts)
        outcomes.ack(item.message)
        return 1
