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
from cutout import job as contract
from cutout.backends import Backends
from cutout.codes import ErrorCode
from cutout.job import EffectRequest, EffectResult, ErrorInfo, Job
from cutout.ports.blobstore import BlobInfo
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

        todo, chains = self._missing_results(job, out)
        if not todo:
            return out
        needed = sorted({i for chain in chains.values() for i in chain})
        steps = [(job.effects[i].name, job.effects[i].params) for i in needed]
        background = next((p["image"] for _, p in steps if p.get("image")), None)
        context = effects.EffectContext(
            original=rgb, background=self.load_background(background) if background else None
        )

        stores: dict[Future[dict[str, float]], str] = {}
        failures = 0
        for outcome in effects.run_all(steps, rgba, context, threads=EFFECT_THREADS):
            index = needed[outcome.index]
            request = job.effects[index]
            if index not in todo:
                continue  # a shared step computed for others
            out.stages[f"effect.{request.name}"] = round(outcome.seconds, 4)
            if outcome.error is not None or outcome.image is None:
                failures += 1
                self._record_error(
                    job, request.name, f"{type(outcome.error).__name__}: {outcome.error}"
                )
                continue
            stores[self.pool.submit(self._store, job, todo[index], request, outcome.image)] = (
                request.name
            )
        retry: Exception | None = None
        for future in as_completed(stores):
            try:
                out.stages.update(future.result())
            except EffectFailed as exc:
                failures += 1
                self._record_error(job, stores[future], str(exc))
            except Exception as exc:
                retry = exc
        if retry is not None:
            raise retry
        out.all_failed = failures == len(todo)
        return out

    def _missing_results(
        self, job: Job, out: Rendered
    ) -> tuple[dict[int, str], dict[int, list[int]]]:
        """The pending effects whose results are not stored yet (their cache keys), and
        each one's chain. Stored ones (a redelivery, or the same photo and request from
        another job) are recorded straight away."""
        pending = {e.name for e in job.pending_effects}
        todo: dict[int, str] = {}
        chains: dict[int, list[int]] = {}
        for index, chain in enumerate(effects.plan([e.name for e in job.effects])):
            request = job.effects[index]
            if request.name not in pending:
                continue
            key = contract.cache_key(
                job.input.sha256, self.model_identity, [job.effects[i] for i in chain], job.output
            )
            stored = self.backends.blobs.stat(contract.result_key(key, job.output))
            if stored is None:
                todo[index] = key
                chains[index] = chain
                continue
            self.backends.status.record_result(
                job.id, request.name, result=_stored_result(job, key, stored)
            )
            out.stages[f"cached.{request.name}"] = 1
        return todo, chains

    def _store(
        self, job: Job, key: str, request: EffectRequest, image: np.ndarray
    ) -> dict[str, float]:
        mark = time.perf_counter()
        try:
            encoded = encode(image, job.output)
        except Exception as exc:
            raise EffectFailed(f"encoding {request.name}: {type(exc).__name__}: {exc}") from exc
        stages = {f"encode.{request.name}": _since(mark)}
        mark = time.perf_counter()
        blob_key = contract.result_key(key, job.output)
        written = self.backends.blobs.put(
            blob_key,
            encoded.data,
            content_type=encoded.content_type,
            metadata={"width": str(encoded.width), "height": str(encoded.height)},
            if_absent=True,
        )
        stages[f"store.{request.name}"] = _since(mark)
        stored = None if written else self.backends.blobs.stat(blob_key)
        result = (
            _stored_result(job, key, stored)
            if stored is not None  # another delivery stored it first: describe that one
            else EffectResult(
                key=blob_key,
                format=job.output.format.value,
                width=encoded.width,
                height=encoded.height,
                bytes=len(encoded.data),
                cache_key=key,
                seconds=sum(stages.values()),
            )
        )
        self.backends.status.record_result(job.id, request.name, result=result)
        log.info(
            "job %s: %s ready",
            job.id,
            request.name,
            extra={"fields": {"job_id": job.id, "effect": request.name, **stages}},
        )
        return stages

    def _record_error(self, job: Job, effect: str, message: str) -> None:
        log.error("job %s: effect %s failed: %s", job.id, effect, message)
        self.backends.status.record_result(
            job.id, effect, error=ErrorInfo(code=ErrorCode.EFFECT_FAILED, message=message)
        )


class EffectFailed(Exception):
    """An effect or its encoding raised: that effect's result is an error, not a retry."""


def _stored_result(job: Job, key: str, stored: BlobInfo) -> EffectResult:
    return EffectResult.stored(
        key=stored.key,
        size=stored.size,
        metadata=stored.metadata,
        format=job.output.format.value,
        cache_key=key,
    )


def _since(mark: float) -> float:
    return round(time.perf_counter() - mark, 4)
