"""OpenVINO against torch for the CPU path (issue 12): the batch-norm-folded InSPyReNet in
base mode (1024²), calibrated random weights, a 12 MP photo, runs interleaved.

Not part of the worker: OpenVINO is not a dependency. Run it with OpenVINO, onnx and
onnxscript importable (``pip install --target DIR openvino==2026.4.1 onnx onnxscript``,
then remove the numpy, sympy and packaging that pip put in DIR beside them, and
``PYTHONPATH=.:DIR``)::

    python scripts/bench_openvino.py --runs 3

Two conversions, which compute the same network: ``onnx`` (the default) exports it with
``torch.onnx.export(..., dynamo=True)`` and converts that file, as the issue measured
(33 s); ``traced`` hands the torch module to ``openvino.convert_model`` (104 s). The IR is
saved with float32 weights: ``save_model``'s default halves them to float16, which moved
the alpha by up to 20/255 in this script's first runs (worker/MODEL.md).

Prints one JSON line: the one-time costs (calibration aside: convert, save, compile, and
a compile from OpenVINO's model cache as a second start would do), each run's seconds
end to end at 12 MP (resize, network, sigmoid, matte at 12 MP) for both, and the largest
alpha difference in 1/255 at 1024² and at 12 MP, and the logits and their sigmoid compared
before the per-image normalisation.
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
from worker.segmenters.inspyrenet import InSPyReNetSegmenter
from worker.segmenters.random_weights import save_random_checkpoint


def _timed_matte(segmenter: InSPyReNetSegmenter, rgb: np.ndarray) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    [matte] = segmenter.mattes([rgb])
    alpha = matte.at(*rgb.shape[:2])
    return time.perf_counter() - started, alpha


def _before_normalisation(
    torch_side: InSPyReNetSegmenter, ov_side: InSPyReNetSegmenter, x: torch.Tensor
) -> dict[str, float]:
    """Where the two paths part: the logits and their sigmoid, compared before the
    per-image min-max normalisation, which divides every difference by the sigmoid's
    range (a narrow range magnifies it)."""
    logits = [side._logits(x.clone()) for side in (torch_side, ov_side)]
    sigmoids = [torch.sigmoid(t) for t in logits]
    return {
        "logits_max_diff": round(float((logits[0] - logits[1]).abs().max()), 6),
        "logits_range": round(float(logits[0].max() - logits[0].min()), 4),
        "sigmoid_max_diff_of_255": round(float((sigmoids[0] - sigmoids[1]).abs().max()) * 255, 4),
        "sigmoid_range": round(float(sigmoids[0].max() - sigmoids[0].min()), 6),
    }


@click.command()
@click.option("--runs", type=click.IntRange(1, 5), default=3, show_default=True)
@click.option(
    "--precision",
    type=click.Choice(["default", "f32"]),
    default="f32",
    show_default=True,
    help="OpenVINO's inference precision: its CPU default is bf16 where the CPU has it",
)
@click.option("--conversion", type=click.Choice(["onnx", "traced"]), default="onnx",
              show_default=True, help="how the torch network reaches OpenVINO")  # fmt: skip
def main(runs: int, precision: str, conversion: str) -> None:
    import openvino as ov

    rgb = photo_like(4032, 3024, seed=3)
    work = Path(tempfile.mkdtemp(prefix="cutout-ov-"))
    weights = save_random_checkpoint(work / "base.pth", "base", [rgb])
    settings = Settings(weights=str(weights), model_mode="base", device="cpu", data_dir=work)
    torch_side = InSPyReNetSegmenter(settings)
    ov_side = InSPyReNetSegmenter(settings)
    report: dict[str, object] = {"load": [round(x, 2) for x in os.getloadavg()],
                                 "torch_threads": torch.get_num_threads(),
                                 "openvino": ov.__version__,
                                 "conversion": conversion}  # fmt: skip
    example = torch.zeros(1, 3, 1024, 1024)
    mark = time.perf_counter()
    if conversion == "onnx":
        exported = work / "inspyrenet-base.onnx"
        torch.onnx.export(torch_side._net, (example,), str(exported), dynamo=True)
        converted = ov.convert_model(str(exported))
    else:
        with torch.inference_mode():
            converted = ov.convert_model(torch_side._net, example_input=example)
    report["convert_s"] = round(time.perf_counter() - mark, 2)
    mark = time.perf_counter()
    xml = work / "inspyrenet-base.xml"
    ov.save_model(converted, xml, compress_to_fp16=False)  # its default halves the weights
    report["save_s"] = round(time.perf_counter() - mark, 2)
    report["ir_mb"] = round(xml.with_suffix(".bin").stat().st_size / 1e6, 1)
    core = ov.Core()
    core.set_property({"CACHE_DIR": str(work / "ov-cache")})
    if precision == "f32":
        core.set_property("CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    report["precision"] = str(core.get_property("CPU", "INFERENCE_PRECISION_HINT"))
    timings: dict[str, float] = {}
    for stage in ("compile_first_s", "compile_cached_s"):
        mark = time.perf_counter()
        compiled = core.compile_model(core.read_model(xml), "CPU")
        timings[stage] = round(time.perf_counter() - mark, 2)
    report.update(timings)

    def ov_logits(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(compiled(x.numpy())[0])

    ov_side._net = ov_logits  # type: ignore[assignment]
    seconds: dict[str, list[float]] = {"torch": [], "openvino": []}
    alphas: dict[str, np.ndarray] = {}
    for _ in range(runs):
        for name, side in (("torch", torch_side), ("openvino", ov_side)):
            took, alphas[name] = _timed_matte(side, rgb)
            seconds[name].append(round(took, 2))
            sys.stderr.write(f"{name} {took:.2f} s, load {os.getloadavg()[0]:.2f}\n")
            sys.stderr.flush()
    with torch.inference_mode():
        x = torch_side._resize(rgb)
        small = [s._probabilities(x.clone())[0, 0].numpy() for s in (torch_side, ov_side)]
        report.update(_before_normalisation(torch_side, ov_side, x))
    report["seconds"] = seconds
    report["alpha_max_diff_1024_of_255"] = round(float(np.abs(small[0] - small[1]).max()) * 255, 3)
    diff = np.abs(alphas["torch"].astype(int) - alphas["openvino"].astype(int))
    report["alpha_max_diff_12mp_levels"] = int(diff.max())
    report["alpha_pixels_differing_12mp"] = int((diff > 0).sum())
    report["load_after"] = [round(x, 2) for x in os.getloadavg()]
    click.echo(json.dumps(report))


if __name__ == "__main__":
    main()
