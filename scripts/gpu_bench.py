"""GPU benchmark of the model path: batch sizes x precisions, on the device machine.

    python scripts/gpu_bench.py            # base mode, batches 1/4/8/16, fp32/fp16/bf16
    python scripts/gpu_bench.py --smoke    # seconds on a CPU: what CI runs

For each precision and batch size: images/s and latency of ``segment()`` on 12 MP photos
(resize on the device, network, per-image normalisation, upsampling to 12 MP), the network
alone on a ready 1024² batch, peak GPU memory, and the alpha error against fp32. Also the
cold start in a fresh process (imports, build, safetensors load, to-device, warm-up) and
the torch foreground estimation at 12 MP, and the worker side of time to first visible
result (worker/latency.py: dequeue → display rendition stored → full rendition stored,
fp32, ``color`` and the four artistic looks, local stores in a temporary folder).
Writes ``gpu_bench.json`` under ``$OUT`` (or ``--out``). Random weights, calibrated so
the alphas are not all 0/255. See gpu_bench.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cutout.worker_processes import WORKER_ENV, run_as_a_worker_runs  # noqa: E402

run_as_a_worker_runs()

import numpy as np  # noqa: E402
import torch  # noqa: E402

from cutout.samples import jpeg_bytes, photo_like  # noqa: E402
from cutout.settings import Settings  # noqa: E402
from worker.foreground import foreground_colours  # noqa: E402
from worker.latency import ARTISTIC, measure_worker  # noqa: E402
from worker.segmenters.inspyrenet import InSPyReNetSegmenter  # noqa: E402


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _timed(fn: Any, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        _sync()
        started = time.perf_counter()
        fn()
        _sync()
        times.append(time.perf_counter() - started)
    return times


def _settings(args: argparse.Namespace, weights: Path, dtype: str) -> Settings:
    """The torch runtime throughout: it is the GPU's (OpenVINO is the CPU's)."""
    return Settings(
        weights=str(weights), model_mode=args.mode, model_dtype=dtype, device="auto",
        model_runtime="torch",
    )  # fmt: skip


def _weights(args: argparse.Namespace, photos: list[np.ndarray]) -> Path:
    from worker.convert_weights import convert
    from worker.segmenters.random_weights import save_random_checkpoint

    pth = save_random_checkpoint(args.out / f"random-{args.mode}.pth", args.mode, photos)
    target = pth.with_suffix(".safetensors")
    convert(pth, target)
    return target


def _cold_start(args: argparse.Namespace, weights: Path) -> dict[str, Any]:
    """Build the segmenter in a fresh process, as a worker does at start."""
    code = (
        f"import time; t = time.perf_counter(); import json, sys; sys.path.insert(0, {str(ROOT)!r})"
        "\nfrom cutout.settings import Settings"
        "\nfrom worker.segmenters.base import build_segmenter"
        f"\ns = build_segmenter(Settings(weights={str(weights)!r}, model_mode={args.mode!r},"
        " model_runtime='torch'))"
        "\nprint(json.dumps({'total_s': time.perf_counter() - t, **s.startup}))"
    )
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": done.stderr[-2000:]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - started
    return {k: round(v, 3) for k, v in result.items()}


def _measure(
    segmenter: InSPyReNetSegmenter, images: list[np.ndarray], repeat: int
) -> tuple[dict[str, Any], list[np.ndarray]]:
    batch = len(images)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    segmenter.segment(images)  # warm-up: cuDNN picks its kernels for this shape
    alphas = segmenter.segment(images)
    latency = _timed(lambda: segmenter.segment(images), repeat)
    ready = torch.zeros(batch, 3, *segmenter.size, device=segmenter.device)
    with torch.inference_mode():
        network = _timed(lambda: segmenter._probabilities(ready.clone()), repeat)
    entry: dict[str, Any] = {
        "latency_s": round(min(latency), 4),
        "images_per_s": round(batch / min(latency), 2),
        "network_s": round(min(network), 4),
        "network_images_per_s": round(batch / min(network), 2),
    }
    if torch.cuda.is_available():
        entry["peak_gpu_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return entry, alphas


def _sweep(args: argparse.Namespace, weights: Path, photos: list[np.ndarray]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    baseline: dict[int, list[np.ndarray]] = {}
    for dtype in args.dtypes:
        segmenter = InSPyReNetSegmenter(_settings(args, weights, dtype))
        for batch in args.batches:
            images = [photos[i % len(photos)] for i in range(batch)]
            entry, alphas = _measure(segmenter, images, args.repeat)
            if dtype == args.dtypes[0]:
                baseline[batch] = alphas
            else:
                pairs = zip(alphas, baseline[batch], strict=True)
                diff = [np.abs(a.astype(int) - b.astype(int)) for a, b in pairs]
                entry["alpha_vs_fp32_max"] = int(max(d.max() for d in diff))
                entry["alpha_vs_fp32_mean"] = round(float(np.mean([d.mean() for d in diff])), 4)
            results[f"{dtype}/batch{batch}"] = entry
            print(dtype, batch, entry, flush=True)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return results


def _worker_latency(args: argparse.Namespace, weights: Path, photo: np.ndarray) -> list[Any]:
    """Dequeue → display rendition stored, and → full, on this device (second run of each
    job kind reported: the first pays cuDNN's kernel choice for the shape)."""
    import tempfile

    data = jpeg_bytes(photo)
    with tempfile.TemporaryDirectory() as tmp:
        settings = _settings(args, weights, "fp32").with_overrides(data_dir=Path(tmp))
        segmenter = InSPyReNetSegmenter(settings)
        runs = []
        for names in (("color",), ARTISTIC):
            measure_worker(settings, segmenter, data, names)
            runs.append(measure_worker(settings, segmenter, data, names))
            print("worker latency", runs[-1], flush=True)
        return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny CPU run (fast mode)")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "bench-out/gpu")))
    parser.add_argument("--weights", type=Path, help="a .safetensors checkpoint (default: random)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.smoke:
        args.mode, args.batches, args.dtypes, args.repeat = "fast", [1, 2], ["fp32"], 1
        size = (240, 320)
    else:
        args.mode, args.batches, args.repeat = "base", [1, 4, 8, 16], 3
        args.dtypes = ["fp32", "fp16", "bf16"]
        size = (3000, 4000)
    torch.backends.cudnn.benchmark = True
    started = time.perf_counter()
    photos = [photo_like(size[1], size[0], seed=seed) for seed in (7, 8)]
    weights = args.weights or _weights(args, photos)
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
        "torch": torch.__version__,
        "mode": args.mode,
        "photo": f"{size[1]}x{size[0]}",
        "worker_env": {name: os.environ[name] for name in WORKER_ENV},
        "cold_start": _cold_start(args, weights),
    }
    print("cold start", report["cold_start"], flush=True)
    report["sweep"] = _sweep(args, weights, photos)
    alpha = np.full(size, 255, np.uint8)
    alpha[:, : size[1] // 3] = 0
    alpha[:, size[1] // 3 : size[1] // 2] = 128
    device = "cuda" if torch.cuda.is_available() else "cpu"
    foreground_colours(photos[0], alpha, device=device)
    fg = _timed(lambda: foreground_colours(photos[0], alpha, device=device), args.repeat)
    report["foreground_s"] = round(min(fg), 4)
    report["worker_latency"] = _worker_latency(args, weights, photos[0])
    report["total_s"] = round(time.perf_counter() - started, 1)
    (args.out / "gpu_bench.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
