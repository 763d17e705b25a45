"""What an effect may know besides the cut-out itself."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EffectContext:
    """Images from the job that some effects need; both optional.

    ``original``: the full-resolution RGB uint8 photo the cut-out came from, orientation
    applied, the same height and width as the cut-out (``background`` mode ``blur``).
    ``background``: a decoded second upload, RGB uint8, any size (``background`` mode
    ``image``). Effects only read these arrays.
    """

    original: np.ndarray | None = None
    background: np.ndarray | None = None
