"""``cutout bench model``: the old service's model path against ours, side by side.

Same random weights (the reference reads the package's ``.pth``, ours the safetensors
conversion), same inputs (the fixture photos and a generated 12 MP photo-like JPEG stored
sideways with an EXIF rotation), same machine, one run; each path's cold start measured in
its own fresh process (worker/bench_child.py). Ours runs as the worker is deployed, with
:data:`~cutout.worker_processes.WORKER_ENV`, twice: on its CPU default, OpenVINO
(``ours``), and on torch (``ours-torch``), so the runtime's share of the ratio is measured
in the same run. OpenVINO's one-time export is made (and timed) before the children
start, into ``OUT/data`` where later runs find it: the ``ours`` cold start is a worker's
second start. The reference runs as the old service ran, with glibc's and OpenMP's
defaults. Ends with one JSON line.
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
    data_dir = out / "data"
    return {
        "mode": mode,
        "data_dir": str(data_dir),
        "openvino_export_s": _export_openvino(safetensors, mode, data_dir),
        "pth": str(pth),
        "safetensors": str(safetensors),
        "inputs": inputs,
        "warm_up": str(warm_up),
        "out": str(out),
        "memory_size": list(MEMORY_SIZE),
        "memory_inputs": memory_inputs,
    }


def _export_openvino(weights: Path, mode: str, data_dir: Path) -> float:
    """Seconds the OpenVINO IR of ``weights`` took to export (0 when it was there)."""
    from cutout.settings import Settings
    from worker.segmenters.inspyrenet import InSPyReNetSegmenter

    settings = Settings(weights=str(weights), model_mode=mode, device="cpu", data_dir=data_dir)
    return round(InSPyReNetSegmenter(settings).startup["export"], 2)


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


OURS = ("ours", "ours-torch")  # the CPU default (OpenVINO), then the torch runtime


def _alpha_diff(out: Path, path: str, stem: str) -> tuple[int, float]:
    ref = np.asarray(Image.open(out / f"reference-{stem}-alpha.png")).astype(int)
    ours = np.asarray(Image.open(out / f"{path}-{stem}-alpha.png")).astype(int)
    diff = np.abs(ref - ours)
    return int(diff.max()), round(float(diff.mean()), 3)


def _table(runs: dict[str, dict[str, Any]], out: Path) -> None:
    reference = runs["reference"]
    click.echo(f"{'input':22s} {'path':10s} {'wall s':>7s} {'x':>5s} {'CPU s':>7s} {'x':>5s}")
    for name in reference["seconds"]:
        for path, run in runs.items():
            wall, cpu = run["seconds"][name], run["cpu_seconds"][name]
            x_wall, x_cpu = reference["seconds"][name] / wall, reference["cpu_seconds"][name] / cpu
            line = f"{name:22s} {path:10s} {wall:7.2f} {x_wall:5.2f} {cpu:7.2f} {x_cpu:5.2f}"
            if path != "reference":
                worst, mean = _alpha_diff(out, path, Path(name).stem)
                line += f"  alpha vs reference max {worst}/255, mean {mean}/255"
            click.echo(line)
    for path, run in runs.items():
        click.echo(
            f"{path}: ready {run['cold_s']:.2f} s after spawn (interpreter "
            f"{run['interpreter_s']:.2f} s), peak RSS {run['peak_rss_gb']:.2f} GB {run['startup']}"
        )


def _summary(runs: dict[str, dict[str, Any]], out: Path) -> dict[str, Any]:
    """The 12 MP input's numbers: each of ours against the reference, and OpenVINO against
    torch (the runtime's own share of the ratio)."""
    reference = runs["reference"]
    summary: dict[str, Any] = {
        "input": LARGE,
        "reference_s": reference["seconds"][LARGE],
        "reference_cpu_s": reference["cpu_seconds"][LARGE],
        "reference_cold_s": reference["cold_s"],
        "reference_peak_rss_gb": reference["peak_rss_gb"],
    }
    for path in OURS:
        run, key = runs[path], path.replace("-", "_")
        wall, cpu = run["seconds"][LARGE], run["cpu_seconds"][LARGE]
        worst, mean = _alpha_diff(out, path, Path(LARGE).stem)
        summary.update({
            f"{key}_s": wall,
            f"{key}_cpu_s": cpu,
            f"{key}_speedup": round(summary["reference_s"] / wall, 2),
            f"{key}_speedup_cpu": round(summary["reference_cpu_s"] / cpu, 2),
            f"{key}_cold_s": run["cold_s"],
            f"{key}_alpha_max_diff": worst,
            f"{key}_alpha_mean_diff": mean,
            f"{key}_peak_rss_gb": run["peak_rss_gb"],
            f"{key}_startup": run["startup"],
        })  # fmt: skip
    summary["openvino_over_torch"] = round(summary["ours_torch_s"] / summary["ours_s"], 2)
    summary["openvino_over_torch_cpu"] = round(
        summary["ours_torch_cpu_s"] / summary["ours_cpu_s"], 2
    )
    summary["per_input"] = {
        name: {p: runs[p]["seconds"][name] for p in runs} for name in reference["seconds"]
    }
    return summary


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
    runs = {path: _child(path, spec, out) for path in ("reference", *OURS)}
    click.echo(f"mode {mode}, CPU threads {os.cpu_count()}, OpenVINO export (once per "
               f"weights file, before the runs) {spec['openvino_export_s']:.2f} s")  # fmt: skip
    _table(runs, out)
    summary = {"mode": mode, "openvino_export_s": spec["openvino_export_s"]}
    summary.update(_summary(runs, out))
    if memory:
        summary.update(_child("memory", spec, out))
    click.echo(json.dumps(summary))
