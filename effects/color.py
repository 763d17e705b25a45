"""``color``: the cut-out itself, unchanged (after any framing effects before it)."""

from __future__ import annotations

import numpy as np

from effects._image import check_rgba
from effects._params import Params
from effects.context import EffectContext


class ColorParams(Params):
    """No parameters."""


def apply(rgba: np.ndarray, params: ColorParams, ctx: EffectContext) -> np.ndarray:
    """Returns ``rgba`` itself (effects never write into their input)."""
    check_rgba(rgba)
    return rgba
