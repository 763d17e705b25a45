"""From one segmented photo to its stored results: compose the cut-out, run each requested
effect, encode, store, and record each result in the job the moment it is stored, so a
polling client shows the first result while the others are still computing.

One effect failing records that effect's error and leaves the others alone. Any other
error (storage, status store) propagates so the whole job is retried: results already
recorded are kept, and the content-addressed keys make a retry rewrite nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass, field

import numpy as np

import effects
from cutout import job as contract
from cutout.backends import Backends
from cutout.job import EffectRequest, EffectResult, ErrorInfo, Job
from worker.compose import compose_cutout
from worker.encode import encode

log = logging.getLogger(__name__)


class EffectFailed(Exception):
    """An effect or its encoding raised: that effect's result is an error, not a retry."""


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

        chains = effects.plan([e.name for e in job.effects])
        pending = {e.name for e in job.pending_effects}
        wanted = [
            (job.effects[chain[-1]], [job.effects[i] for i in chain])
            for chain in chains
            if job.effects[chain[-1]].name in pending
        ]
        background = next(
            (e.params["image"] for _, ch in wanted for e in ch if e.params.get("image")), None
        )
        context = effects.EffectContext(
            original=rgb,
            background=self.load_background(background) if background else None,
        )
        prefixes = self._prefixes(rgba, [chain[:-1] for _, chain in wanted], context)

        futures = {
            self.pool.submit(
                self._render_one, job, request, chain, prefixes[_chain_id(chain[:-1])], context
            ): request.name
            for request, chain in wanted
        }
        retry: Exception | None = None
        failures = 0
        for future in as_completed(futures):
            name = futures[future]
            try:
                out.stages.update(future.result())
            except EffectFailed as exc:
                failures += 1
                log.error("job %s: effect %s failed: %s", job.id, name, exc)
                self.backends.status.record_result(
                    job.id, name, error=ErrorInfo(code="effect_failed", message=str(exc))
                )
            except Exception as exc:
                retry = exc
        if retry is not None:
            raise retry
        out.all_failed = bool(wanted) and failures == len(wanted)
        return out

    def _prefixes(
        self,
        rgba: np.ndarray,
        prefixes: list[list[EffectRequest]],
        context: effects.EffectContext,
    ) -> dict[tuple[str, ...], np.ndarray | EffectFailed]:
        """Shared beginnings of effect chains (e.g. ``crop`` feeding several looks) are
        computed once, before the looks run in parallel. A failed step is kept as its
        error, which every effect built on it then reports."""
        done: dict[tuple[str, ...], np.ndarray | EffectFailed] = {(): rgba}
        for prefix in sorted(prefixes, key=len):
            for n in range(1, len(prefix) + 1):
                key = _chain_id(prefix[:n])
                before = done[_chain_id(prefix[: n - 1])]
                if key in done or isinstance(before, EffectFailed):
                    done.setdefault(key, before)
                    continue
                step = prefix[n - 1]
                try:
                    done[key] = effects.run([(step.name, step.params)], before, context)
                except Exception as exc:
                    done[key] = EffectFailed(f"{step.name}: {type(exc).__name__}: {exc}")
        return done

    def _render_one(
        self,
        job: Job,
        request: EffectRequest,
        chain: list[EffectRequest],
        base: np.ndarray | EffectFailed,
        context: effects.EffectContext,
    ) -> dict[str, float]:
        if isinstance(base, EffectFailed):
            raise base
        stages: dict[str, float] = {}
        key = contract.cache_key(job.input.sha256, self.model_identity, chain, job.output)
        blob_key = contract.result_key(key, job.output)
        started = time.perf_counter()
        existing = self.backends.blobs.stat(blob_key)
        if existing is not None:
            result = EffectResult(
                key=blob_key,
                format=job.output.format.value,
                width=int(existing.metadata.get("width", 0)),
                height=int(existing.metadata.get("height", 0)),
                bytes=existing.size,
                cache_key=key,
            )
        else:
            try:
                image = effects.run([(request.name, request.params)], base, context)
                stages[f"effect.{request.name}"] = _since(started)
                mark = time.perf_counter()
                encoded = encode(image, job.output)
                stages[f"encode.{request.name}"] = _since(mark)
            except Exception as exc:
                raise EffectFailed(f"{type(exc).__name__}: {exc}") from exc
            mark = time.perf_counter()
            self.backends.blobs.put(
                blob_key,
                encoded.data,
                content_type=encoded.content_type,
                metadata={"width": str(encoded.width), "height": str(encoded.height)},
                if_absent=True,
            )
            stages[f"store.{request.name}"] = _since(mark)
            result = EffectResult(
                key=blob_key,
                format=job.output.format.value,
                width=encoded.width,
                height=encoded.height,
                bytes=len(encoded.data),
                cache_key=key,
                seconds=_since(started),
            )
        self.backends.status.record_result(job.id, request.name, result=result)
        log.info(
            "job %s: %s ready",
            job.id,
            request.name,
            extra={"fields": {"job_id": job.id, "effect": request.name, **stages}},
        )
        return stages


def _chain_id(chain: list[EffectRequest]) -> tuple[str, ...]:
    return tuple(e.model_dump_json() for e in chain)


def _since(mark: float) -> float:
    return round(time.perf_counter() - mark, 4)
