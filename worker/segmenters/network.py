"""InSPyReNet (Swin-B) from transparent-background, imported and built for fast start-up.

The package's ``__init__`` imports its GUI, albumentations, pymatting, gdown … and the
model's own modules import ``timm.layers`` (which pulls in torchvision and torch._dynamo:
~2 s here) and ``kornia`` only for helpers that inference never calls. :func:`import_network`
loads just the model modules, with three small stand-ins that exist only during that import:

- the package itself, without its ``__init__``;
- ``timm.layers``: ``DropPath`` (identity: the model is only ever run in eval mode, where
  timm's ``DropPath`` is the identity too), ``to_2tuple`` and ``trunc_normal_``;
- ``kornia.morphology``: forwarders that import kornia on first call (used only by the
  unused ``threshold`` path).

Whatever those names meant in ``sys.modules`` before is restored afterwards, so a later
``import transparent_background`` (the reference ``Remover``) gets the real modules.
The stand-ins are tied to transparent-background 1.3.4 (pinned); the fidelity test against
``Remover`` guards them.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
import types
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from typing import Any

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_weights
from torch.overrides import TorchFunctionMode

PACKAGE = "transparent_background"
BASE_SIZES = {"base": (1024, 1024), "fast": (384, 384)}
_STUBBED = ("timm", "timm.layers", "kornia", "kornia.morphology")


class _EvalDropPath(nn.Identity):
    """timm's ``DropPath`` in eval mode, which is all this model is ever run in."""

    def __init__(self, drop_prob: float = 0.0, scale_by_keep: bool = True) -> None:
        super().__init__()


def _to_2tuple(x: Any) -> tuple[Any, Any]:
    return (x[0], x[1]) if isinstance(x, list | tuple) else (x, x)


def _lazy_kornia(name: str) -> Callable[..., torch.Tensor]:
    def call(*args: Any, **kwargs: Any) -> torch.Tensor:
        morphology = importlib.import_module("kornia.morphology")
        return getattr(morphology, name)(*args, **kwargs)

    return call


def _stub_modules(package_dir: list[str]) -> dict[str, types.ModuleType]:
    package = types.ModuleType(PACKAGE)
    package.__path__ = package_dir
    timm = types.ModuleType("timm")
    layers = types.ModuleType("timm.layers")
    layers.DropPath = _EvalDropPath  # type: ignore[attr-defined]
    layers.to_2tuple = _to_2tuple  # type: ignore[attr-defined]
    layers.trunc_normal_ = nn.init.trunc_normal_  # type: ignore[attr-defined]
    timm.layers = layers  # type: ignore[attr-defined]
    kornia = types.ModuleType("kornia")
    morphology = types.ModuleType("kornia.morphology")
    morphology.dilation = _lazy_kornia("dilation")  # type: ignore[attr-defined]
    morphology.erosion = _lazy_kornia("erosion")  # type: ignore[attr-defined]
    kornia.morphology = morphology  # type: ignore[attr-defined]
    return {
        PACKAGE: package,
        "timm": timm,
        "timm.layers": layers,
        "kornia": kornia,
        "kornia.morphology": morphology,
    }


@contextlib.contextmanager
def _swapped_modules(stubs: Mapping[str, types.ModuleType]) -> Iterator[None]:
    """Put ``stubs`` in ``sys.modules`` (and hide the package's real submodules) for the
    duration; afterwards every touched name is exactly as it was."""
    touched = [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]
    touched += [n for n in stubs if n not in touched]
    saved = {n: sys.modules[n] for n in touched if n in sys.modules}
    for name in touched:
        sys.modules.pop(name, None)
    sys.modules.update(stubs)
    try:
        yield
    finally:
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]
        for name in stubs:
            sys.modules.pop(name, None)
        sys.modules.update(saved)


@cache
def import_network() -> types.ModuleType:
    """The package's ``InSPyReNet`` module, imported without its GUI/matting stack."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{PACKAGE} is not installed")
    with _swapped_modules(_stub_modules(list(spec.submodule_search_locations))):
        return importlib.import_module(f"{PACKAGE}.InSPyReNet")


class _SkipRandomInit(TorchFunctionMode):
    """Turns the random fills of parameter initialisation into no-ops: the weights are
    overwritten by the checkpoint anyway, and filling 90 M parameters costs ~1.4 s here."""

    _SKIPPED = frozenset(
        {getattr(nn.init, n) for n in dir(nn.init) if n.endswith("_") and not n.startswith("_")}
        | {torch.Tensor.uniform_, torch.Tensor.normal_}
    )

    def __torch_function__(
        self,
        func: Any,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        if func in self._SKIPPED:
            return args[0] if args else (kwargs or {})["tensor"]
        return func(*args, **(kwargs or {}))


def build_network(mode: str, *, init: bool = False) -> nn.Module:
    """An InSPyReNet_SwinB for ``mode`` in eval mode, configured as ``Remover`` configures
    it. Unless ``init``, the parameters are left uninitialised: load a state dict next."""
    if mode not in BASE_SIZES:
        raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(BASE_SIZES)}")
    factory = import_network().InSPyReNet_SwinB
    size = list(BASE_SIZES[mode])
    with contextlib.nullcontext() if init else _SkipRandomInit():
        model = factory(depth=64, pretrained=False, threshold=None, base_size=size)
    return model.eval()


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every (eval-mode) BatchNorm into the convolution before it: the same function up
    to float rounding, one pass over the activations fewer per convolution."""
    conv_type = import_network().Conv2d
    for module in model.modules():
        if isinstance(module, conv_type) and module.bn is not None:
            conv, bn = module.conv, module.bn
            conv.weight, conv.bias = fuse_conv_bn_weights(
                conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias
            )
            module.bn = None
    return model


def _contiguous_output(module: nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor:
    return output.contiguous()


def _contiguous_inputs(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(a.contiguous() if isinstance(a, torch.Tensor) else a for a in args)


def to_channels_last(model: nn.Module) -> nn.Module:
    """Store the convolutions channels-last (faster oneDNN/cuDNN kernels).

    The attention blocks reshape conv outputs with ``.view``, which needs the default
    layout: hooks hand those blocks contiguous inputs and make the outputs they ``.view``
    contiguous. Everything else keeps the layout the convolutions choose.
    """
    network = import_network()
    nn.Module.to(model, memory_format=torch.channels_last)  # InSPyReNet.to takes a device only
    for module in model.modules():
        if isinstance(module, network.SelfAttention):
            viewed = [module.query_conv, module.key_conv, module.value_conv]
        elif isinstance(module, network.SICA):
            module.register_forward_pre_hook(_contiguous_inputs)
            viewed = [module.conv_query, module.conv_key, module.conv_value]
        else:
            continue
        for conv in viewed:
            conv.register_forward_hook(_contiguous_output)
    return model
