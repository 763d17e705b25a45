"""A job's input bytes, read where the job says they are, and verified before anything is
computed from them (cutout/integrity.py); then decoded (:func:`fetch_and_decode`).

- An upload lives at its content address and is read with :func:`read_verified`.
- An input given by reference (a backfill's gs:// object) is read from the customer's
  bucket at the listed generation (another generation: ``input_changed``). Its sha256 is
  unknown until now: the worker hashes what it read and returns the job with the digest
  and the photo's size filled in, so its cache keys are content addresses like any
  other's; :func:`cutout.lifecycle.finish` records them. A redelivery of a job whose
  digest was recorded verifies the bytes against it.
"""

from __future__ import annotations

import time

import numpy as np

from cutout.backends import Backends
from cutout.codes import ErrorCode
from cutout.errors import InvalidInput, NotFound
from cutout.imaging import inspect_image
from cutout.integrity import content_digest, read_verified, verify
from cutout.job import InputInfo, Job
from worker.decode import decode_image
from worker.timing import since

#: The pixels a by-reference photo is assumed to have before it is read (its listing
#: gives only its size): 10 per byte over-counts a JPEG (0.1 to 0.3 bytes per pixel) and
#: any PNG, so the worker's memory budget (worker/budget.py) stays an upper bound.
PIXELS_PER_BYTE = 10
UNKNOWN_SIZE_PIXELS = 24_000_000


def budgeted_pixels(info: InputInfo) -> int:
    """The pixels to hold budget for: known dimensions, else the estimate above."""
    if info.width and info.height:
        return info.width * info.height
    return info.bytes * PIXELS_PER_BYTE if info.bytes else UNKNOWN_SIZE_PIXELS


def fetch_input(backends: Backends, job: Job, *, max_pixels: int) -> tuple[bytes, Job]:
    """The input's verified bytes and the job (for a reference, with its digest now)."""
    source = job.input.source
    try:
        if source is None:
            return read_verified(backends.blobs, job.input.key, job.input.sha256), job
        if backends.objects is None:
            raise InvalidInput(
                f"these backends cannot read {source.uri}",
                code=ErrorCode.BY_REFERENCE_UNSUPPORTED,
            )
        data = backends.objects.read(source.uri, source.generation)
    except NotFound as exc:
        raise InvalidInput(exc.message, code=ErrorCode.INPUT_MISSING) from exc
    if job.input.sha256:
        verify(data, job.input.sha256, what=source.uri)
    info = inspect_image(data, max_pixels=max_pixels)
    read = job.input.model_copy(
        update={
            "sha256": content_digest(data),
            "width": info.width,
            "height": info.height,
            "format": info.format,
            "bytes": len(data),
        }
    )
    return data, job.model_copy(update={"input": read})


def fetch_and_decode(
    backends: Backends, job: Job, max_pixels: int, stages: dict[str, float]
) -> tuple[np.ndarray, Job]:
    """The job's photo as RGB pixels (:func:`worker.decode.decode_image`) and the job as
    :func:`fetch_input` returns it, both steps timed into ``stages``."""
    mark = time.perf_counter()
    data, job = fetch_input(backends, job, max_pixels=max_pixels)
    stages["fetch"] = since(mark)
    mark = time.perf_counter()
    rgb = decode_image(data, max_pixels=max_pixels)
    stages["decode"] = since(mark)
    return rgb, job
