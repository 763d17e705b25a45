"""From one segmented photo to its stored results: compose the cut-out, run the requested
effects (shared steps once, independent ones in parallel: ``effects.run_all``), then
encode, store and record each result in the job the moment it is ready, so a polling
client shows the first result while the others are still computing.

Two renditions, in this order: the display one (the photo area-averaged to display size,
the matte taken at that size, effects told the scale so grain, dots and blocks come out as
a downscaled full rendition's would), then the full one. A display result is stored and
recorded before any full-resolution work starts, so the phone shows it after the model
plus a fraction of a second.

One effect failing records that effect's error and leaves the others alone. Any other
error (storage, status store) propagates so the whole job is retried: results already
recorded are kept, and results already stored are reused, never recomputed, thanks to
their content-addressed keys.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, as_completed
from dataclasses import dataclass, field

import numpy as np

import effects
from cutout import results
from cutout.backends import Backends
from cutout.codes import ErrorCode
from cutout.job import ErrorInfo, Job, utcnow
from cutout.metrics import submitted_at
from worker.compose import compose_cutout
from worker.encode import encode
from worker.segmenters.base import Matte
from worker.shrink import shrink_to
from worker.timing import since
from worker.webp_encoder import AlphaChunks

log = logging.getLogger(__name__)

#: Threads ``run_all`` uses for independent effects (measured best on 2 cores: 2).
EFFECT_THREADS = 2
#: libwebp's fastest method for display renditions: on a 1600x1200 cut-out 0.08-0.1 s
#: and about 20% smaller than method 1 (0.25-0.4 s) at the same quality.
DISPLAY_WEBP_METHOD = 0
#: The display rendition estimates foreground colours at a quarter of its size
#: (worker/compose.py): composing 1600x1200 took 0.15 s of CPU at half size, 0.06 s at a
#: quarter, and the soft edge's colours moved from the full-size estimate's by 5.4 and 5.8
#: levels on average (tests/test_renditions.py holds them under 8).
DISPLAY_FOREGROUND_SCALE = 0.25


@dataclass
class Rendered:
    """Per-job stage timings (seconds) and whether every effect failed."""

    stages: dict[str, float] = field(default_factory=dict)
    all_failed: bool = False


@dataclass(frozen=True)
class Renderer:
    backends: Backends
    model_identity: str
    estimate_foreground: bool
    device: str
    pool: Executor
    load_background: Callable[[str], np.ndarray]

    def render(self, job: Job, rgb: np.ndarray, matte: Matte) -> Rendered:
        """Every missing result of the job: the display renditions first (from the photo
        resized to display size and the matte at that size), then the full ones."""
        out = Rendered()
        todo = self._missing_results(job, out)
        if not todo:
            return out
        steps = [(e.name, e.params) for e in job.effects]
        background = next((p["image"] for _, p in steps if p.get("image")), None)
        second = self.load_background(background) if background else None
        failed: set[str] = set()
        displays = [p for p in todo if p.rendition is results.DISPLAY]
        if displays and job.display is not None:
            wall, cpu = time.perf_counter(), time.process_time()
            small = shrink_to(rgb, job.display.scale(*rgb.shape[:2]))
            full_shape = (rgb.shape[0], rgb.shape[1])
            failed |= self._rendition(job, small, matte, second, full_shape, displays, out)
            out.stages["display"] = since(wall)
            out.stages["display_cpu"] = round(time.process_time() - cpu, 4)
        fulls = [p for p in todo if p.rendition is results.FULL and p.effect not in failed]
        if fulls:
            failed |= self._rendition(job, rgb, matte, second, None, fulls, out)
        out.all_failed = len(failed) == len({p.effect for p in todo})
        return out

    def _rendition(
        self,
        job: Job,
        rgb: np.ndarray,
        matte: Matte,
        second: np.ndarray | None,
        full_shape: tuple[int, int] | None,
        todo: list[results.PlannedResult],
        out: Rendered,
    ) -> set[str]:
        """Compose, run the effects and store one rendition of the ``todo`` results, each
        recorded as soon as it is stored; returns the effects that failed. A storage
        failure is raised (after every store has finished), so the job is retried."""
        prefix = "" if todo[0].rendition is results.FULL else f"{todo[0].rendition.value}."
        mark = time.perf_counter()
        alpha = matte.at(*rgb.shape[:2])
        out.stages[f"{prefix}matte"] = since(mark)
        mark = time.perf_counter()
        rgba = compose_cutout(
            rgb,
            alpha,
            estimate_foreground=self.estimate_foreground,
            device=self.device,
            foreground_scale=1.0 if full_shape is None else DISPLAY_FOREGROUND_SCALE,
        )
        out.stages[f"{prefix}compose"] = since(mark)
        wanted = {planned.index: planned for planned in todo}
        needed = sorted({i for planned in todo for i in planned.chain})
        steps = [(job.effects[i].name, job.effects[i].params) for i in needed]
        context = effects.EffectContext(original=rgb, background=second, full_shape=full_shape)
        stores: dict[Future[dict[str, float]], str] = {}
        failed: set[str] = set()
        shared = AlphaChunks()
        for outcome in effects.run_all(steps, rgba, context, threads=EFFECT_THREADS):
            planned = wanted.get(needed[outcome.index])
            if planned is None:
                continue  # a shared step computed for others
            out.stages[f"{prefix}effect.{planned.effect}"] = round(outcome.seconds, 4)
            if outcome.error is not None or outcome.image is None:
                failed.add(planned.effect)
                self._record_error(
                    job, planned.effect, f"{type(outcome.error).__name__}: {outcome.error}"
                )
                continue
            future = self.pool.submit(self._store, job, planned, outcome.image, prefix, shared)
            stores[future] = planned.effect
        retry: Exception | None = None
        for future in as_completed(stores):
            try:
                out.stages.update(future.result())
            except EffectFailed as exc:
                failed.add(stores[future])
                self._record_error(job, stores[future], str(exc))
            except Exception as exc:
                _log_store_failure(job, stores[future], exc)
                retry = retry or exc
        if retry is not None:
            raise retry
        return failed

    def _missing_results(self, job: Job, out: Rendered) -> list[results.PlannedResult]:
        """The pending effects' results (each rendition) that are not stored yet, display
        ones first. Stored ones (a redelivery, or the same photo and request from another
        job) are recorded straight away, display before full."""
        pending = {e.name for e in job.pending_effects}
        todo: list[results.PlannedResult] = []
        for planned in results.plan(job, self.model_identity):
            if planned.effect not in pending:
                continue
            if planned.rendition is results.DISPLAY and planned.effect in job.displays:
                continue
            stored = results.lookup(self.backends.blobs, planned)
            if stored is None:
                todo.append(planned)
                continue
            self.backends.status.record_result(
                job.id, planned.effect, result=stored, rendition=planned.rendition
            )
            out.stages[f"cached.{_name(planned)}"] = 1
        return todo

    def _store(
        self,
        job: Job,
        planned: results.PlannedResult,
        image: np.ndarray,
        prefix: str,
        shared: AlphaChunks,
    ) -> dict[str, float]:
        mark = time.perf_counter()
        method = DISPLAY_WEBP_METHOD if planned.rendition is results.DISPLAY else None
        try:
            encoded = encode(image, planned.output, webp_method=method, shared=shared)
        except Exception as exc:
            raise EffectFailed(f"encoding {planned.effect}: {type(exc).__name__}: {exc}") from exc
        stages = {f"{prefix}encode.{planned.effect}": since(mark)}
        mark = time.perf_counter()
        result, written = results.store(
            self.backends.blobs,
            planned,
            encoded.data,
            content_type=encoded.content_type,
            width=encoded.width,
            height=encoded.height,
        )
        stages[f"{prefix}store.{planned.effect}"] = since(mark)
        if written:
            result = result.model_copy(update={"seconds": sum(stages.values())})
        recorded_at = utcnow()
        result = result.model_copy(update={"written_at": recorded_at})
        self.backends.status.record_result(
            job.id, planned.effect, result=result, rendition=planned.rendition
        )
        since_submitted = (recorded_at - submitted_at(job)).total_seconds()
        log.info(
            "job %s: %s ready",
            job.id,
            _name(planned),
            extra={
                "fields": {
                    "event": "result_ready",
                    "job_id": job.id,
                    "effect": planned.effect,
                    "rendition": planned.rendition.value,
                    "priority": job.priority.value,
                    "latency_s": round(since_submitted, 4),
                    **stages,
                }
            },
        )
        return stages

    def _record_error(self, job: Job, effect: str, message: str) -> None:
        log.error("job %s: effect %s failed: %s", job.id, effect, message)
        self.backends.status.record_result(
            job.id, effect, error=ErrorInfo(code=ErrorCode.EFFECT_FAILED, message=message)
        )


class EffectFailed(Exception):
    """An effect or its encoding raised: that effect's result is an error, not a retry."""


def _log_store_failure(job: Job, effect: str, exc: Exception) -> None:
    """Each failed store is logged with its job and effect: the job is retried as a whole
    (with the first failure), and the others must not go unseen."""
    log.error(
        "job %s: storing %s failed: %s: %s",
        job.id,
        effect,
        type(exc).__name__,
        exc,
        exc_info=exc,
        extra={"fields": {"job_id": job.id, "effect": effect}},
    )


def _name(planned: results.PlannedResult) -> str:
    """``color`` for a full result, ``display.color`` for its display rendition."""
    if planned.rendition is results.FULL:
        return planned.effect
    return f"{planned.rendition.value}.{planned.effect}"
