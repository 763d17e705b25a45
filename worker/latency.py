"""The worker side of time to first visible result, in-process: dequeue → decode →
segment → display rendition stored and recorded → full rendition stored, on the real
renderer and local stores. Used by scripts/gpu_bench.py on the GPU machine (no web stack
there; nothing beyond torch, numpy, OpenCV, Pillow and pydantic imported) and by
``cutout bench latency`` through ``python -m worker.latency PHOTO REPEAT``, which runs
:func:`measure_jobs` in a process started as a worker is (settings from ``CUTOUT_*``, the
worker's environment) and prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from cutout.backends import open_backends
from cutout.job import EffectRequest, InputInfo, Job, Rendition
from cutout.settings import Settings
from worker.decode import decode_image
from worker.render import Renderer
from worker.segmenters.base import Segmenter, build_segmenter

#: The four artistic looks, which the display budget covers together in one job.
ARTISTIC = ("blackwhite", "popart", "halftone", "retro8bit")


def measure_worker(
    settings: Settings, segmenter: Segmenter, photo: bytes, names: Sequence[str]
) -> dict[str, Any]:
    """One job of ``names`` on ``photo`` through decode, the segmenter and the real
    renderer, on local stores under ``settings.data_dir``: seconds from dequeue to each
    stage, and the bytes of each rendition."""
    backends = open_backends(settings)
    key = f"uploads/bench-{time.time_ns()}"
    backends.blobs.put(key, photo, content_type="image/jpeg")
    job = Job(
        id=f"bench-{time.time_ns()}",
        input=InputInfo(key=key, sha256=key, width=0, height=0, format="jpeg", bytes=len(photo)),
        effects=[EffectRequest(name=n) for n in names],
        display=settings.display,
    )
    backends.status.create(job)
    marks: dict[str, float] = {}
    record = backends.status.record_result

    def timed_record(job_id: str, effect: str, *args: Any, **kwargs: Any) -> Job:
        done = record(job_id, effect, *args, **kwargs)
        marks[kwargs.get("rendition", Rendition.FULL).value] = time.perf_counter()
        return done

    backends.status.record_result = timed_record  # type: ignore[method-assign]
    started = time.perf_counter()
    rgb = decode_image(backends.blobs.get(key), max_pixels=settings.max_pixels)
    decoded = time.perf_counter()
    [matte] = segmenter.mattes([rgb])
    segmented = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        renderer = Renderer(
            backends=backends,
            model_identity=settings.model_identity,
            estimate_foreground=settings.foreground,
            device=settings.device,
            pool=pool,
            load_background=lambda key: decode_image(
                backends.blobs.get(key), max_pixels=settings.max_pixels
            ),
        )
        stages = renderer.render(job, rgb, matte).stages
    stored = backends.status.get(job.id)
    return {
        "effects": list(names),
        "decode_s": round(decoded - started, 3),
        "segment_s": round(segmented - decoded, 3),
        "to_display_s": round(marks["display"] - started, 3),
        "to_full_s": round(marks["full"] - started, 3) if "full" in marks else None,
        "display_work_s": stages["display"],
        "display_cpu_s": stages["display_cpu"],
        "display_bytes": sum(r.bytes for r in stored.displays.values()),
        "full_bytes": sum(r.bytes for r in stored.results.values()),
    }


def measure_jobs(settings: Settings, photo: bytes, repeat: int) -> list[list[dict[str, Any]]]:
    """For ``color`` alone and for the four looks: :func:`measure_worker` as this process's
    first job (which pays its one-time costs: imports, first allocations, thread pools) and
    ``repeat`` times more (the steady state), each run on its own stores under
    ``settings.data_dir`` (else the next finds the last one's results)."""
    segmenter = build_segmenter(settings)

    def run(i: int, names: Sequence[str]) -> dict[str, Any]:
        stores = settings.with_overrides(data_dir=settings.data_dir / f"w{i}-{len(names)}")
        return measure_worker(stores, segmenter, photo, names)

    return [[run(i, names) for i in range(1 + repeat)] for names in (("color",), ARTISTIC)]


if __name__ == "__main__":
    photo_path, repeat = sys.argv[1:]
    photo = Path(photo_path).read_bytes()
    print(json.dumps(measure_jobs(Settings.from_env(), photo, int(repeat))))
