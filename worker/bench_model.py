"""``cutout bench model``: the old service's model path against ours, side by side.

Same random weights (the reference reads the package's ``.pth``, ours the safetensors
conversion), same inputs (the fixture photos and a generated 12 MP photo-like JPEG stored
sideways with an EXIF rotation), same machine, one run; each path's cold start measured in
its own fresh process (worker/bench_child.py). Ours runs as the worker is deployed, with
:data:`~cutout.worker_processes.WORKER_ENV`; the reference as the old service ran, with
glibc's and OpenMP's defaults. Ends with one JSON line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
import numpy as np
from PIL import Image

from cutout.worker_processes import WORKER_ENV

FIXTURES = Path(__file__).parents[1] / "tests" / "fixtures"
PHOTOS = ["chelsea.png", "coffee.png", "astronaut.png"]
LARGE = "photo-12mp.jpg"
MEMORY_SIZE = (6124, 8164)  # height, width: 49.996 MP, just under the 50 MP limit


def _prepare(
    out: Path, mode: str, weights: Path | None, smoke: bool, memory: bool
) -> dict[str, Any]:
    """Write the inputs and (unless given) the random weights; returns the children's spec."""
    from cutout.samples import jpeg_bytes, photo_like

    out.mkdir(parents=True, exist_ok=True)
    width, height = (600, 800) if smoke else (3000, 4000)  # as stored: sideways, tag 6
    (out / LARGE).write_bytes(jpeg_bytes(photo_like(width, height, seed=7), orientation=6))
    photos = PHOTOS[:1] if smoke else PHOTOS
    inputs = [str(FIXTURES / name) for name in photos] + [str(out / LARGE)]
    warm_up = out / "warm-up.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8) + 128).save(warm_up)
    memory_inputs = []
    if memory:
        for seed in range(4):
            path = out / f"photo-{MEMORY_SIZE[1]}x{MEMORY_SIZE[0]}-{seed}.jpg"
            if not path.is_file():
                path.write_bytes(jpeg_bytes(photo_like(*MEMORY_SIZE[::-1], seed=seed)))
            memory_inputs.append(str(path))
    pth = weights or out / f"random-{mode}.pth"
    if weights is None:
        click.echo(f"making random {mode} weights calibrated on the inputs (no weights given)")
        _random_weights(pth, mode, inputs)
    safetensors = out / f"{pth.stem}.safetensors"
    from worker.convert_weights import convert

    convert(pth, safetensors)  # always: a file left by an earlier run may hold other weights
    return {
        "mode": mode,
        "pth": str(pth),
        "safetensors": str(safetensors),
        "inputs": inputs,
        "warm_up": str(warm_up),
        "out": str(out),
        "memory_size": list(MEMORY_SIZE),
        "memory_inputs": memory_inputs,
    }


def _random_weights(path: Path, mode: str, inputs: list[str]) -> None:
    from PIL import ImageOps

    from worker.segmenters.random_weights import save_random_checkpoint

    photos = [np.asarray(ImageOps.exif_transpose(Image.open(i)).convert("RGB")) for i in inputs]
    save_random_checkpoint(path, mode, photos)


def _child(path: str, spec: dict[str, Any], out: Path) -> dict[str, Any]:
    spec_file = out / f"spec-{path}.json"
    spec_file.write_text(json.dumps({**spec, "spawned_at": time.time()}))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    if path != "reference":  # our worker runs with it wherever it is deployed
        env = {**WORKER_ENV, **env}
    done = subprocess.run(
        [sys.executable, "-m", "worker.bench_child", path, str(spec_file)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise click.ClickException(f"the {path} run failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _alpha_diff(out: Path, stem: str) -> tuple[int, float]:
    ref = np.asarray(Image.open(out / f"reference-{stem}-alpha.png")).astype(int)
    ours = np.asarray(Image.open(out / f"ours-{stem}-alpha.png")).astype(int)
    diff = np.abs(ref - ours)
    return int(diff.max()), round(float(diff.mean()), 3)


@click.command("model")
@click.option("--mode", type=click.Choice(["base", "fast"]), default="base", show_default=True)
@click.option(
    "--weights",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="an InSPyReNet .pth (default: random weights calibrated on the inputs)",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("bench-out/model"),
    show_default=True,
)
@click.option("--memory/--no-memory", default=True, help="also measure a batch of 4 x 50 MP")
@click.option("--smoke", is_flag=True, help="tiny run (fast mode, small photo) for CI")
def command(mode: str, weights: Path | None, out: Path, memory: bool, smoke: bool) -> None:
    """Old service's path (Remover + PNG at Pillow's defaults) against our worker's path."""
    if smoke:
        mode, memory = "fast", False
    spec = _prepare(out, mode, weights, smoke, memory)
    runs = {path: _child(path, spec, out) for path in ("reference", "ours")}
    click.echo(f"mode {mode}, CPU threads {os.cpu_count()}")
    click.echo("input                  wall s: reference  ours  x     CPU s: reference  ours  x")
    for name in runs["reference"]["seconds"]:
        (ref_s, ours_s), (ref_c, ours_c) = (
            (runs["reference"][kind][name], runs["ours"][kind][name])
            for kind in ("seconds", "cpu_seconds")
        )
        worst, mean = _alpha_diff(out, Path(name).stem)
        click.echo(
            f"{name:22s} {ref_s:17.2f} {ours_s:5.2f} {ref_s / ours_s:4.2f} {ref_c:16.2f} "
            f"{ours_c:5.2f} {ref_c / ours_c:4.2f}  alpha max {worst}/255, mean {mean}/255"
        )
    for path, run in runs.items():
        click.echo(
            f"{path}: ready {run['cold_s']:.2f} s after spawn (interpreter "
            f"{run['interpreter_s']:.2f} s), peak RSS {run['peak_rss_gb']:.2f} GB {run['startup']}"
        )
    ref_s, ours_s = runs["reference"]["seconds"][LARGE], runs["ours"]["seconds"][LARGE]
    ref_cpu, ours_cpu = (runs[p]["cpu_seconds"][LARGE] for p in ("reference", "ours"))
    worst, mean = _alpha_diff(out, Path(LARGE).stem)
    warm_up = runs["ours"]["startup"].get("warm_up", 0.0)
    summary: dict[str, Any] = {
        "mode": mode,
        "input": LARGE,
        "reference_s": ref_s,
        "ours_s": ours_s,
        "speedup": round(ref_s / ours_s, 2),
        "reference_cpu_s": ref_cpu,
        "ours_cpu_s": ours_cpu,
        "speedup_cpu": round(ref_cpu / ours_cpu, 2),
        "reference_cold_s": runs["reference"]["cold_s"],
        "ours_cold_s": runs["ours"]["cold_s"],
        "ours_cold_without_warm_up_s": round(runs["ours"]["cold_s"] - warm_up, 2),
        "alpha_max_diff": worst,
        "alpha_mean_diff": mean,
        "reference_peak_rss_gb": runs["reference"]["peak_rss_gb"],
        "ours_peak_rss_gb": runs["ours"]["peak_rss_gb"],
        "ours_startup": runs["ours"]["startup"],
        "per_input": {
            name: {p: runs[p]["seconds"][name] for p in runs}
            for name in runs["reference"]["seconds"]
        },
    }
    if memory:
        summary.update(_child("memory", spec, out))
    click.echo(json.dumps(summary))
