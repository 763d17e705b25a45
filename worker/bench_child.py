"""One side of ``cutout bench model``, run in a fresh process so its cold start is real.

``python -m worker.bench_child PATH SPEC.json`` reads what to do from SPEC and prints one
JSON line: seconds to ready (since ``spawned_at``, the parent's clock before the fork),
seconds per input, peak RSS, and each input's alpha saved as PNG for the comparison.

- ``reference``: what the old service did: ``Remover(mode).process(img, type='rgba')``
  then a PNG save with Pillow's defaults.
- ``ours``: the worker's per-image path: decode, segment, foreground colours, compose,
  encode, with the settings' defaults (safetensors weights, the OpenVINO runtime, its IR
  already exported into the spec's data directory).
- ``ours-torch``: the same on the torch runtime.
- ``memory``: see :func:`_memory`.
"""

from __future__ import annotations

import time

STARTED = time.time()

import io  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402


def _reference(spec: dict[str, Any]) -> tuple[Callable[[bytes], np.ndarray], dict[str, float]]:
    from transparent_background import Remover

    remover = Remover(mode=spec["mode"], ckpt=spec["pth"], device="cpu")

    def run(data: bytes) -> np.ndarray:
        image = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
        out = remover.process(image, type="rgba")
        out.save(io.BytesIO(), "PNG")
        return np.asarray(out)[..., 3]

    return run, {}


def _ours(
    spec: dict[str, Any], runtime: str
) -> tuple[Callable[[bytes], np.ndarray], dict[str, float]]:
    from cutout.job import OutputSpec
    from cutout.settings import Settings
    from worker.compose import compose_cutout
    from worker.decode import decode_image
    from worker.encode import encode
    from worker.segmenters.base import build_segmenter

    settings = Settings(
        weights=spec["safetensors"], model_mode=spec["mode"], device="cpu",
        data_dir=Path(spec["data_dir"]), model_runtime=runtime,
    )  # fmt: skip
    segmenter = build_segmenter(settings)
    output = OutputSpec()

    def run(data: bytes) -> np.ndarray:
        rgb = decode_image(data, max_pixels=settings.max_pixels)
        [alpha] = segmenter.segment([rgb])
        rgba = compose_cutout(
            rgb, alpha, estimate_foreground=settings.foreground, device=settings.device
        )
        encode(rgba, output)
        return alpha

    return run, dict(segmenter.startup)


def _memory(spec: dict[str, Any]) -> dict[str, Any]:
    """Peak RSS of the worker processing one batch of four 50 MP photos end to end (fetch,
    decode, segment, foreground colours, compose, encode, store) on local storage. The
    photos are written by the parent, so making them does not count here."""
    import hashlib
    import tempfile

    from cutout.job import EffectRequest, InputInfo, Job, JobState, Priority, new_job_id
    from cutout.local import open_local_backends
    from cutout.settings import Settings
    from worker.loop import Worker

    with tempfile.TemporaryDirectory() as data_dir:
        (Path(data_dir) / "openvino").symlink_to(Path(spec["data_dir"]).resolve() / "openvino")
        settings = Settings(
            data_dir=Path(data_dir), weights=spec["safetensors"], model_mode=spec["mode"],
            device="cpu", batch_size=4, batch_wait_ms=1000, autoscale=False,
        )  # fmt: skip
        backends = open_local_backends(settings)
        height, width = spec["memory_size"]
        for path in spec["memory_inputs"]:
            data = Path(path).read_bytes()
            sha = hashlib.sha256(data).hexdigest()
            backends.blobs.put(f"uploads/{sha}", data, content_type="image/jpeg")
            info = InputInfo(key=f"uploads/{sha}", sha256=sha, width=width, height=height,
                             format="JPEG", bytes=len(data))  # fmt: skip
            job = Job(id=new_job_id(), input=info, effects=[EffectRequest(name="color")])
            backends.status.create(job)
            backends.queue.publish(job.id, Priority.STANDARD)
        started = time.perf_counter()
        Worker(settings=settings, backends=backends, max_batches=1).work()
        jobs = backends.status.find(limit=10)
    failed = [f"{j.id}: {j.state.value} {j.error}" for j in jobs if j.state is not JobState.DONE]
    if failed:
        raise SystemExit("the 50 MP batch did not finish:\n" + "\n".join(failed))
    return {
        "memory_batch": f"4 x {width}x{height} through the worker",
        "memory_batch_s": round(time.perf_counter() - started, 2),
        "memory_peak_rss_gb": round(_peak_rss_gb(), 2),
        "memory_jobs_done": len(jobs),
        "memory_budget_mp": settings.memory_budget_mp,
    }


def _peak_rss_gb() -> float:
    """This process's peak RSS (``VmHWM``: unlike ``ru_maxrss``, not inherited from the
    parent across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main(path: str, spec_file: str) -> None:
    spec = json.loads(Path(spec_file).read_text())
    if path == "memory":
        print(json.dumps(_memory(spec)))
        return
    if path == "reference":
        run, startup = _reference(spec)
    else:
        run, startup = _ours(spec, "torch" if path == "ours-torch" else "openvino")
    ready = time.time()
    result: dict[str, Any] = {
        "path": path,
        "cold_s": round(ready - spec["spawned_at"], 2),
        "interpreter_s": round(STARTED - spec["spawned_at"], 2),
        "startup": {k: round(v, 3) for k, v in startup.items()},
        "seconds": {},
    }
    run(Path(spec["warm_up"]).read_bytes())  # first-call costs belong to neither side
    out = Path(spec["out"])
    result["cpu_seconds"] = {}
    for name in spec["inputs"]:
        data = Path(name).read_bytes()
        started, cpu = time.perf_counter(), time.process_time()
        alpha = run(data)
        result["seconds"][Path(name).name] = round(time.perf_counter() - started, 2)
        result["cpu_seconds"][Path(name).name] = round(time.process_time() - cpu, 2)
        Image.fromarray(alpha).save(out / f"{path}-{Path(name).stem}-alpha.png")
    result["peak_rss_gb"] = round(_peak_rss_gb(), 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:])
