"""The network on OpenVINO: the CPU runtime (the worker's 12 MP path 1.8x faster than on
torch, the alpha within 1/255 of it: worker/MODEL.md).

The torch network is exported once per checkpoint (``torch.onnx.export(dynamo=True)``,
then ``openvino.convert_model``) and saved as OpenVINO IR with float32 weights
(``save_model`` would halve them to float16, which moves the alpha by up to 20/255) under
``<data_dir>/openvino/``, named by the checkpoint's sha256, the model mode and the OpenVINO
version. The export is written to a temporary directory and renamed into place, so
workers starting together on a fresh data directory each end with one whole IR. Later
starts read the IR and compile it from OpenVINO's model cache (``CACHE_DIR``) beside it.

OpenVINO sends usage events to Google Analytics on import and on every conversion unless
a consent file in ``$HOME`` says no; :func:`import_openvino` hides its telemetry package,
so OpenVINO falls back to its own no-op stub and nothing leaves the machine.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import threading
import types
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from cutout.settings import Settings
from worker.segmenters.weights import file_digest

IR_NAME = "network.xml"


def import_openvino() -> types.ModuleType:
    """``openvino``, imported with its telemetry off (see the module docstring)."""
    if "openvino" not in sys.modules:
        sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]
    import openvino

    return openvino


def ir_dir(settings: Settings, weights: Path) -> Path:
    """Where the IR of ``weights`` in the settings' mode lives: content-addressed."""
    digest = file_digest(weights)
    version = import_openvino().__version__.split("-")[0]
    return settings.data_dir / "openvino" / f"{settings.model_mode}-{digest[:24]}-ov{version}"


def export_ir(build: Callable[[], nn.Module], size: tuple[int, int], target: Path) -> None:
    """Write the network ``build`` makes (images 1x3x``size`` to logits) as IR into the
    directory ``target``, unless a whole one is there already (then nothing is built)."""
    if (target / IR_NAME).is_file():
        return
    ov = import_openvino()
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        onnx = work / "network.onnx"
        example = torch.zeros(1, 3, *size)
        torch.onnx.export(build(), (example,), str(onnx), dynamo=True, verbose=False)
        converted = ov.convert_model(str(onnx))
        ir = work / "ir"
        ir.mkdir()
        ov.save_model(converted, ir / IR_NAME, compress_to_fp16=False)
        try:
            ir.rename(target)
        except OSError:  # another worker's export got there first: it is the same network
            if not (target / IR_NAME).is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


class OpenVINONetwork:
    """Logits for a batch of normalised images, as the torch network gives them: one image
    at a time through a network compiled for one (batching on the CPU gains nothing)."""

    def __init__(self, ir: Path) -> None:
        ov = import_openvino()
        core = ov.Core()
        core.set_property({"CACHE_DIR": str(ir.parent / "cache")})
        core.set_property("CPU", {"INFERENCE_PRECISION_HINT": "f32"})  # not bf16 where it can
        self._compiled = core.compile_model(ir / IR_NAME, "CPU")
        self._lock = threading.Lock()  # one inference request, shared

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        with self._lock:
            logits = [self._compiled(image.unsqueeze(0).contiguous().numpy())[0] for image in batch]
        return torch.cat([torch.from_numpy(x) for x in logits])
