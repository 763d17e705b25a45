"""The CPU runtimes against each other (issue 12's rule for adopting OpenVINO): the worker's
segmenter on OpenVINO (the default) and on torch, base mode (1024²), random weights
calibrated on a 12 MP photo, three runs interleaved, in the worker's environment
(``WORKER_ENV``: the script re-executes itself with it)::

    .venv/bin/python scripts/bench_openvino.py --runs 3

Each run times the segmenter's whole 12 MP path: ``mattes()`` (resize, network, sigmoid,
normalisation) and ``Matte.at`` at 12 MP. Prints one JSON line: the one-time costs (the
export into a fresh data directory, the first compile, a compile from OpenVINO's model
cache as a second start does), each run's seconds, the largest alpha difference at 1024²
(in 1/255) and at 12 MP (in levels, and how many pixels differ), and the logits and their
sigmoid compared before the per-image normalisation. ``cutout bench model`` gives the same
ratio for the whole worker path, once, beside the old service's.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import click
import numpy as np
import torch

from cutout.samples import photo_like
from cutout.settings import Settings
from cutout.worker_processes import run_as_a_worker_runs
from worker.segmenters.inspyrenet import InSPyReNetSegmenter
from worker.segmenters.openvino_network import import_openvino
from worker.segmenters.random_weights import save_random_checkpoint


def _timed_matte(segmenter: InSPyReNetSegmenter, rgb: np.ndarray) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    [matte] = segmenter.mattes([rgb])
    alpha = matte.at(*rgb.shape[:2])
    return time.perf_counter() - started, alpha


def _before_normalisation(sides: list[InSPyReNetSegmenter], x: torch.Tensor) -> dict[str, float]:
    """Where the two paths part: the logits and their sigmoid, compared before the
    per-image min-max normalisation, which divides every difference by the sigmoid's
    range (a narrow range magnifies it)."""
    logits = [side._logits(x.clone()) for side in sides]
    sigmoids = [torch.sigmoid(t) for t in logits]
    return {
        "logits_max_diff": round(float((logits[0] - logits[1]).abs().max()), 6),
        "logits_range": round(float(logits[0].max() - logits[0].min()), 4),
        "sigmoid_max_diff_of_255": round(float((sigmoids[0] - sigmoids[1]).abs().max()) * 255, 4),
        "sigmoid_range": round(float(sigmoids[0].max() - sigmoids[0].min()), 6),
    }


@click.command()
@click.option("--runs", type=click.IntRange(1, 5), default=3, show_default=True)
def main(runs: int) -> None:
    rgb = photo_like(4032, 3024, seed=3)
    work = Path(tempfile.mkdtemp(prefix="cutout-ov-"))
    weights = save_random_checkpoint(work / "base.pth", "base", [rgb])
    settings = Settings(weights=str(weights), model_mode="base", device="cpu", data_dir=work)
    report: dict[str, object] = {"load": [round(x, 2) for x in os.getloadavg()],
                                 "torch_threads": torch.get_num_threads(),
                                 "openvino": import_openvino().__version__}  # fmt: skip
    sides = {
        "torch": InSPyReNetSegmenter(settings.with_overrides(model_runtime="torch")),
        "openvino": InSPyReNetSegmenter(settings),
    }
    first = sides["openvino"].startup
    again = InSPyReNetSegmenter(settings).startup  # a second start: IR and compiled cache
    report.update({"export_s": round(first["export"], 2),
                   "compile_first_s": round(first["compile"], 2),
                   "compile_cached_s": round(again["compile"], 2)})  # fmt: skip
    ir = next(work.glob("openvino/base-*"))
    report["ir_mb"] = round(sum(f.stat().st_size for f in ir.iterdir()) / 1e6, 1)
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    alphas: dict[str, np.ndarray] = {}
    for _ in range(runs):
        for name, side in sides.items():
            took, alphas[name] = _timed_matte(side, rgb)
            seconds[name].append(round(took, 2))
            sys.stderr.write(f"{name} {took:.2f} s, load {os.getloadavg()[0]:.2f}\n")
    means = {name: sum(s) / len(s) for name, s in seconds.items()}
    report["seconds"] = seconds
    report["openvino_over_torch"] = round(means["torch"] / means["openvino"], 2)
    with torch.inference_mode():
        x = sides["torch"]._resize(rgb)
        small = [s._probabilities(x.clone())[0, 0].numpy() for s in sides.values()]
        report.update(_before_normalisation(list(sides.values()), x))
    report["alpha_max_diff_1024_of_255"] = round(float(np.abs(small[0] - small[1]).max()) * 255, 3)
    diff = np.abs(alphas["torch"].astype(int) - alphas["openvino"].astype(int))
    report["alpha_max_diff_12mp_levels"] = int(diff.max())
    report["alpha_pixels_differing_12mp"] = int((diff > 0).sum())
    report["load_after"] = [round(x, 2) for x in os.getloadavg()]
    click.echo(json.dumps(report))


if __name__ == "__main__":
    run_as_a_worker_runs()  # the allocator settings every worker has
    main()
