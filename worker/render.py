"""From one segmented photo to its stored results: compose the cut-out, run the requested
effects (shared steps once, independent ones in parallel: ``effects.run_all``), then
encode, store and record each result in the job the moment it is ready, so a polling
client shows the first result while the others are still computing.

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

log = logging.getLogger(__name__)

#: Threads ``run_all`` uses for independent effects (measured best on 2 cores: 2).
EFFECT_THREADS = 2


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

    def render(self, job: Job, rgb: np.ndarray, alpha: np.ndarray) -> Rendered:
        out = Rendered()
        started = time.perf_counter()
        rgba = compose_cutout(
            rgb, alpha, estimate_foreground=self.estimate_foreground, device=self.device
        )
        out.stages["compose"] = _since(started)

        todo = self._missing_results(job, out)
        if not todo:
            return out
        needed = sorted({i for planned in todo.values() for i in planned.chain})
        steps = [(job.effects[i].name, job.effects[i].params) for i in needed]
        background = next((p["image"] for _, p in steps if p.get("image")), None)
        context = effects.EffectContext(
            original=rgb, background=self.load_background(background) if background else None
        )

        stores: dict[Future[dict[str, float]], str] = {}
        failures = 0
        for outcome in effects.run_all(steps, rgba, context, threads=EFFECT_THREADS):
            index = needed[outcome.index]
            if index not in todo:
                continue  # a shared step computed for others
            planned = todo[index]
            out.stages[f"effect.{planned.effect}"] = round(outcome.seconds, 4)
            if outcome.error is not None or outcome.image is None:
                failures += 1
                self._record_error(
                    job, planned.effect, f"{type(outcome.error).__name__}: {outcome.error}"
                )
                continue
            stores[self.pool.submit(self._store, job, planned, outcome.image)] = planned.effect
        retry: Exception | None = None
        for future in as_completed(stores):
            try:
                out.stages.update(future.result())
            except EffectFailed as exc:
                failures += 1
                self._record_error(job, stores[future], str(exc))
            except Exception as exc:
                _log_store_failure(job, stores[future], exc)
                retry = retry or exc
        if retry is not None:
            raise retry
        out.all_failed = failures == len(todo)
        return out

    def _missing_results(self, job: Job, out: Rendered) -> dict[int, results.PlannedResult]:
        """The pending effects whose results are not stored yet, by index in the job.
        Stored ones (a redelivery, or the same photo and request from another job) are
        recorded straight away."""
        pending = {e.name for e in job.pending_effects}
        todo: dict[int, results.PlannedResult] = {}
        for planned in results.plan(job, self.model_identity):
            if planned.effect not in pending:
                continue
            stored = results.lookup(self.backends.blobs, planned)
            if stored is None:
                todo[planned.index] = planned
                continue
            self.backends.status.record_result(job.id, planned.effect, result=stored)
            out.stages[f"cached.{planned.effect}"] = 1
        return todo

    def _store(
        self, job: Job, planned: results.PlannedResult, image: np.ndarray
    ) -> dict[str, float]:
        mark = time.perf_counter()
        try:
            encoded = encode(image, planned.output)
        except Exception as exc:
            raise EffectFailed(f"encoding {planned.effect}: {type(exc).__name__}: {exc}") from exc
        stages = {f"encode.{planned.effect}": _since(mark)}
        mark = time.perf_counter()
        result, written = results.store(
            self.backends.blobs,
            planned,
            encoded.data,
            content_type=encoded.content_type,
            width=encoded.width,
            height=encoded.height,
        )
        stages[f"store.{planned.effect}"] = _since(mark)
        if written:
            result = result.model_copy(update={"seconds": sum(stages.values())})
        recorded_at = utcnow()
        result = result.model_copy(update={"written_at": recorded_at})
        self.backends.status.record_result(job.id, planned.effect, result=result)
        since_submitted = (recorded_at - submitted_at(job)).total_seconds()
        log.info(
            "job %s: %s ready",
            job.id,
            planned.effect,
            extra={
                "fields": {
                    "event": "result_ready",
                    "job_id": job.id,
                    "effect": planned.effect,
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


def _since(mark: float) -> float:
    return round(time.perf_counter() - mark, 4)
