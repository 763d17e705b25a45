"""A job as clients see it: results carry URLs, internals (keys, fingerprints) stay out;
and the JSON answer every route writes.

Each effect's result comes in up to two renditions: ``displays`` (small lossy WebP for
showing at once; present first) and ``results`` (the full-resolution one in the job's
format, the one to download). ``display`` says what the display rendition is (or
``null`` for a full-only job).

``preview`` is a displayable JPEG of the input (for HEIC photos: browsers other than
Safari cannot show them) once the worker has decoded the photo; ``cache_hit`` says the
job was answered from stored results without any worker, so a page says that instead of
"done in 0.0 s"; ``worker.warm`` says the worker was running before the job arrived."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Response

from cutout.job import EffectResult, Job
from cutout.metrics import is_cache_hit


def job_view(job: Job, url: Callable[[str], str]) -> dict[str, Any]:
    """The JSON body of ``GET /v1/jobs/{id}``; ``url`` turns a result's key into a URL."""
    return {
        "id": job.id,
        "state": job.state.value,
        "priority": job.priority.value,
        "effects": [e.model_dump(mode="json") for e in job.effects],
        "output": job.output.model_dump(mode="json"),
        "input": {
            "width": job.input.width,
            "height": job.input.height,
            "format": job.input.format,
            "bytes": job.input.bytes,
        },
        "display": job.display.model_dump(mode="json") if job.display else None,
        "displays": {name: _result(r, url) for name, r in job.displays.items()},
        "results": {name: _result(r, url) for name, r in job.results.items()},
        "effect_errors": {name: e.model_dump(mode="json") for name, e in job.effect_errors.items()},
        "preview": (
            {"url": url(job.preview.key), "width": job.preview.width, "height": job.preview.height}
            if job.preview
            else None
        ),
        "cache_hit": is_cache_hit(job),
        "error": job.error.model_dump(mode="json") if job.error else None,
        "attempts": job.attempts,
        "timings": job.timings.model_dump(mode="json"),
        "model": job.model.model_dump(mode="json") if job.model else None,
        "worker": job.worker.model_dump(mode="json") if job.worker else None,
        "batch_id": job.client.batch_id,
        "created_at": job.created_at.isoformat(),
        "updated_at": job.updated_at.isoformat(),
    }


def _result(result: EffectResult, url: Callable[[str], str]) -> dict[str, Any]:
    return {
        "url": url(result.key),
        "format": result.format,
        "width": result.width,
        "height": result.height,
        "bytes": result.bytes,
    }


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A compact JSON answer: every route's body that is not an image or the page."""
    return Response(
        json.dumps(body, separators=(",", ":")),
        status=status,
        content_type="application/json",
        headers=headers,
    )
