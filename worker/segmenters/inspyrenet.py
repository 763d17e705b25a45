"""InSPyReNet (transparent-background's model and weights), batched and built for start-up.

What it guarantees, compared with ``Remover(...).process(img, type='map')`` on the same
weights: the same preprocessing (bilinear antialiased resize to the mode's base size,
ImageNet normalisation), the same network, min-max normalisation of the sigmoid *per image*
(the reference normalises over the whole batch tensor, so its batched output differs from
its single-image output), bilinear ``align_corners=True`` upsampling to full size on the
device, and the reference's truncating conversion to uint8. In fp32 the alphas agree within
2/255 on either runtime (tests/test_inspyrenet.py); a batched alpha equals the single-image
one within 1/255.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from cutout import procfs
from cutout.errors import ConfigurationError
from cutout.job import ModelInfo
from cutout.settings import Settings
from worker.devices import resolve_device
from worker.segmenters import network, openvino_network
from worker.segmenters.base import Matte, Segmenter, check_image, full_size, register
from worker.segmenters.weights import load_state_dict, resolve_weights

log = logging.getLogger(__name__)

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def process_age() -> float | None:
    """Seconds since this process started (Linux ``/proc``), or ``None`` elsewhere."""
    try:
        started = procfs.start_time("self")
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return None if started is None else max(0.0, uptime - started / os.sysconf("SC_CLK_TCK"))


class _Logits(nn.Module):
    """The network up to the logits that ``forward_inference`` feeds to its sigmoid."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.model.forward_inspyre(x)["saliency"][-1]  # type: ignore[operator]
        return logits


@register("inspyrenet")
class InSPyReNetSegmenter(Segmenter):
    """InSPyReNet_SwinB in ``settings.model_mode`` (``base`` 1024², ``fast`` 384²), its
    network on ``settings.model_runtime``: OpenVINO on the CPU (the default, its IR made
    once per checkpoint: worker/segmenters/openvino_network.py) or torch on
    ``settings.device``. Everything around the network (resize, normalisation, mattes) is
    torch's either way.

    ``device_batch`` caps how many images go through the network at once: all of them on
    a GPU; one at a time on CPU, where batching gains nothing per image (measured) and
    would multiply the activation memory of large batches.
    """

    def __init__(
        self, settings: Settings, *, warm_up: bool = True, device_batch: int | None = None
    ) -> None:
        stages: dict[str, float] = {}
        age = process_age()
        if age is not None:  # interpreter start and imports, whoever imported what
            stages["imports"] = age
        clock = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            stages[stage] = now - clock
            clock = now

        weights = resolve_weights(settings)
        self.runtime = settings.model_runtime
        on_openvino = self.runtime == "openvino"
        self.device = torch.device("cpu") if on_openvino else resolve_device(settings.device)
        if on_openvino and settings.device == "auto" and torch.cuda.is_available():
            log.warning("a GPU is present but CUTOUT_MODEL_RUNTIME=openvino runs the network "
                        "on the CPU: set CUTOUT_MODEL_RUNTIME=torch to use the GPU")  # fmt: skip
        self.dtype = DTYPES[settings.model_dtype]
        self.size = network.BASE_SIZES[settings.model_mode]
        self.channels_last = settings.channels_last and not on_openvino
        self._net: Callable[[torch.Tensor], torch.Tensor]
        if on_openvino:
            self._net = _on_openvino(settings, weights, lap)
        else:
            self._net = _on_torch(settings, weights, self.device, lap)
        self._mean = torch.tensor(MEAN, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(STD, device=self.device).view(1, 3, 1, 1)
        self.device_batch = device_batch or (1 if self.device.type == "cpu" else 64)
        self.info = ModelInfo(
            name="inspyrenet",
            version=settings.model_version,
            options={
                "mode": settings.model_mode,
                "runtime": self.runtime,
                "dtype": settings.model_dtype,
                "channels_last": self.channels_last,
                "device": str(self.device),
                "weights": Path(weights).name,
            },
        )
        if warm_up and self.device.type != "cpu":
            self.segment([np.zeros((*self.size, 3), np.uint8)])
            lap("warm_up")
        else:  # on CPU a warm-up gains nothing and delays the first job (worker/MODEL.md)
            stages["warm_up"] = 0.0
        self.startup = stages
        log.info(
            "InSPyReNet ready (%s) in %.2f s: %s",
            ", ".join(f"{k}={v}" for k, v in self.info.options.items()),
            sum(stages.values()),
            ", ".join(f"{k} {v:.2f}s" for k, v in stages.items()),
        )

    def segment(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        return full_size(self.mattes(images), images)

    def mattes(self, images: Sequence[np.ndarray]) -> list[Matte]:
        arrays = [check_image(i, image) for i, image in enumerate(images)]
        mattes: list[Matte] = []
        with torch.inference_mode():
            for start in range(0, len(arrays), self.device_batch):
                chunk = arrays[start : start + self.device_batch]
                probs = self._probabilities(torch.cat([self._resize(a) for a in chunk]))
                mattes += [_ProbabilityMatte(probs[i : i + 1]) for i in range(len(chunk))]
        return mattes

    def _resize(self, image: np.ndarray) -> torch.Tensor:
        """1x3xhxw float in 0..255 at the base size, as the reference resizes.

        On CPU with Pillow itself (the reference's resize; 0.13 s for 12 MP). On a GPU
        with torch's antialiased bilinear kernel on the device, rounded like Pillow's uint8
        output: within 1 of Pillow for 0.25% of the pixels of a 12 MP photo."""
        if self.device.type == "cpu":
            resized = Image.fromarray(image).resize(self.size[::-1], Image.Resampling.BILINEAR)
            return torch.from_numpy(np.array(resized)).permute(2, 0, 1).unsqueeze(0).float()
        if not image.flags.writeable:  # torch refuses to wrap read-only memory silently
            image = image.copy()
        pixels = torch.from_numpy(image).to(self.device, non_blocking=True)
        pixels = pixels.permute(2, 0, 1).unsqueeze(0).float()
        small = F.interpolate(pixels, self.size, mode="bilinear", antialias=True)
        return small.round_().clamp_(0, 255)

    def _probabilities(self, batch: torch.Tensor) -> torch.Tensor:
        """Per-image min-max normalised sigmoid of the logits, Bx1xhxw float32."""
        pred = torch.sigmoid(self._logits(batch))
        low = pred.amin(dim=(1, 2, 3), keepdim=True)
        high = pred.amax(dim=(1, 2, 3), keepdim=True)
        return (pred - low) / (high - low + 1e-8)

    def _logits(self, batch: torch.Tensor) -> torch.Tensor:
        """The network's logits, float32, for a batch of 0-255 pixels (changed in place)."""
        x = batch.div_(255).sub_(self._mean).div_(self._std)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        enabled = self.dtype != torch.float32
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=enabled):
            return self._net(x).float()


class _ProbabilityMatte(Matte):
    """One 1x1xhxw probability map at the model's resolution, on its device."""

    def __init__(self, prob: torch.Tensor) -> None:
        self.prob = prob
        self.nbytes = prob.element_size() * prob.nelement()

    def at(self, height: int, width: int) -> np.ndarray:
        """Bilinear ``align_corners=True`` on the device (the reference's upsampling, at
        any size: the fidelity tests hold it to the reference); uint8 by truncation (the
        reference's ``(pred * 255).astype(np.uint8)``)."""
        with torch.inference_mode():
            up = F.interpolate(self.prob, size=(height, width), mode="bilinear", align_corners=True)
            return up.mul_(255).to(torch.uint8)[0, 0].cpu().numpy()


def _on_openvino(
    settings: Settings, weights: Path, lap: Callable[[str], None]
) -> openvino_network.OpenVINONetwork:
    """The network compiled by OpenVINO, exported first if this data directory has no IR of
    these weights (the torch network is built only then)."""
    ir = openvino_network.ir_dir(settings, weights)
    lap("find_weights")
    build = functools.partial(_folded_logits, settings.model_mode, weights)
    openvino_network.export_ir(build, network.BASE_SIZES[settings.model_mode], ir)
    lap("export")
    compiled = openvino_network.OpenVINONetwork(ir)
    lap("compile")
    return compiled


def _on_torch(
    settings: Settings, weights: Path, device: torch.device, lap: Callable[[str], None]
) -> nn.Module:
    lap("find_weights")
    model = network.build_network(settings.model_mode)
    lap("build")
    _load_folded(model, weights)
    lap("load")
    model.to(device)
    if settings.channels_last:
        network.to_channels_last(model)
    lap("to_device")
    return _Logits(model).eval()


def _folded_logits(mode: str, weights: Path) -> nn.Module:
    model = network.build_network(mode)
    _load_folded(model, weights)
    return _Logits(model).eval()


def _load_folded(model: nn.Module, weights: Path) -> None:
    """The checkpoint into ``model`` without a copy, then batch-norm folded; a file that is
    not this network's checkpoint is a configuration error, not a crash."""
    try:
        model.load_state_dict(load_state_dict(weights), strict=True, assign=True)
    except RuntimeError as exc:
        message = f"{weights} is not an InSPyReNet_SwinB checkpoint: {exc}"
        raise ConfigurationError(message) from exc
    network.fold_batchnorm(model)
