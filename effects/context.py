"""What an effect may know besides the cut-out itself."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EffectContext:
    """Images from the job that some effects need (both optional), and the scale.

    ``original``: the full-resolution RGB uint8 photo the cut-out came from, orientation
    applied, the same height and width as the cut-out (``background`` mode ``blur``).
    ``background``: a decoded second upload, RGB uint8, any size (``background`` mode
    ``image``). Effects only read these arrays.
    ``full_shape``: ``None`` for the full rendition; for a smaller rendition (the display
    one, computed from a downscaled photo) the height and width the full rendition's image
    has at this step. Effects whose look has features measured in pixels (grain, dot
    pitch, blocks, an output size) size them as the full rendition would and then scale
    them (:meth:`scale`), so a display rendition looks like the full one downscaled.
    """

    original: np.ndarray | None = None
    background: np.ndarray | None = None
    full_shape: tuple[int, int] | None = None

    def scale(self, shape: tuple[int, ...]) -> float:
        """Pixels of an image of ``shape`` per pixel of the full rendition (1 for it)."""
        if self.full_shape is None:
            return 1.0
        return max(shape[0], shape[1]) / max(self.full_shape)
