"""The results plan, written once: which results a job has, where each one lives, and how a
stored one is found, written and described. Ingest's cache lookup and the worker's
renderer both go through here, so a result can never be looked up one way and written
another.

For each requested effect the plan holds one :class:`PlannedResult`: its chain (the
effects of the job that shape it, from :func:`effects.plan`), its cache key
(:func:`cutout.job.cache_key` of the input's identity, the model, the chain and the
encoding) and its blob key (:func:`cutout.job.result_key`). Serving a stored result, as a
cache hit or as the reuse of an earlier delivery's work, restarts its retention clock
(:meth:`BlobStore.touch`), so a hit on day 29 never hands out a result deleted on day 30.

Renditions: a job with a :class:`~cutout.job.DisplaySpec` has two results per effect, a
*display* one (lossy WebP at display size, planned first, so it is stored and recorded
first) and the *full* one (the job's format at full resolution). The display rendition's
name and size go into its cache key; the full one's key is the key results had before
renditions existed. The runtime that computed the alpha is part of the model identity.

Inputs by reference (a backfill's gs:// objects, ``job.input.source``) have no sha256 at
ingest, so ingest plans nothing for them (no cache lookup); the worker hashes the object
it read (worker/fetch.py) before it plans, so their keys are content addresses too.
"""

from __future__ import annotations

from dataclasses import dataclass

import effects
from cutout import job as contract
from cutout.errors import TransientError
from cutout.job import EffectResult, Job, OutputSpec, Rendition
from cutout.ports.blobstore import BlobInfo, BlobStore

#: The rendition every result has: the full-resolution one, in the job's format.
FULL = Rendition.FULL
DISPLAY = Rendition.DISPLAY


@dataclass(frozen=True)
class PlannedResult:
    """One result of a job: ``effect`` (its name) is ``job.effects[index]``; ``chain`` are
    the indices of the job's effects applied, in order, to compute it; ``output`` is how
    it is encoded; ``cache_key`` and ``blob_key`` say what it is and where it is stored."""

    effect: str
    index: int
    chain: tuple[int, ...]
    output: OutputSpec
    cache_key: str
    blob_key: str
    rendition: Rendition = FULL


def input_identity(job: Job) -> str:
    """What identifies the job's input in cache keys: the sha256 of its bytes, hashed at
    ingest, or for an input given by reference by the worker that read it."""
    return job.input.sha256


def plan(job: Job, model_identity: str) -> list[PlannedResult]:
    """The job's results: every display rendition (if the job has them), then every full
    one, each in the job's order of effects."""
    identity = input_identity(job)
    chains = effects.plan([e.name for e in job.effects])
    renditions: list[tuple[Rendition, OutputSpec, dict[str, object] | None]] = []
    if job.display is not None:
        size: dict[str, object] = {"name": DISPLAY.value, "long_side": job.display.long_side}
        renditions.append((DISPLAY, job.display.output, size))
    renditions.append((FULL, job.output, None))
    planned = []
    for rendition, output, described in renditions:
        for index, chain in enumerate(chains):
            steps = [job.effects[i] for i in chain]
            key = contract.cache_key(identity, model_identity, steps, output, described)
            planned.append(
                PlannedResult(
                    effect=job.effects[index].name,
                    index=index,
                    chain=tuple(chain),
                    output=output,
                    cache_key=key,
                    blob_key=contract.result_key(key, output),
                    rendition=rendition,
                )
            )
    return planned


def lookup(blobs: BlobStore, planned: PlannedResult) -> EffectResult | None:
    """The stored result, about to be served, with its retention clock restarted; ``None``
    if it is not stored (never computed, or expired)."""
    stored = blobs.touch(planned.blob_key)
    return None if stored is None else describe(planned, stored)


def store(
    blobs: BlobStore,
    planned: PlannedResult,
    data: bytes,
    *,
    content_type: str,
    width: int,
    height: int,
) -> tuple[EffectResult, bool]:
    """Write an encoded result where :func:`lookup` finds it, and describe it. Returns the
    result and whether this call wrote it: ``False`` when another writer (an earlier
    delivery of the job, or another job with the same request) stored it first, in which
    case that object is kept, served (so refreshed) and described instead."""
    metadata = {"width": str(width), "height": str(height)}
    written = blobs.put(
        planned.blob_key, data, content_type=content_type, metadata=metadata, if_absent=True
    )
    if written:
        return describe(
            planned, BlobInfo(planned.blob_key, len(data), content_type, metadata)
        ), True
    earlier = lookup(blobs, planned)
    if earlier is None:
        raise TransientError(f"{planned.blob_key} existed a moment ago and is gone; try again")
    return earlier, False


def describe(planned: PlannedResult, stored: BlobInfo) -> EffectResult:
    """The job's record of a stored result: its size, and the width and height
    :func:`store` put in the blob's metadata."""
    return EffectResult(
        key=stored.key,
        format=planned.output.format.value,
        width=int(stored.metadata.get("width", 0)),
        height=int(stored.metadata.get("height", 0)),
        bytes=stored.size,
        cache_key=planned.cache_key,
    )
