"""worker.shrink.shrink_to stays close to a one-step area resize at every ratio."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cutout.samples import photo_like
from tests.support.ssim import ssim
from worker.shrink import shrink_to


@pytest.mark.parametrize(
    ("width", "height"),
    [(4032, 3024), (4624, 3472), (3040, 2280), (1760, 1320), (6000, 800)],
    ids=["12MP-halved-then-1.26x", "16MP-halved-then-1.45x", "1.9x-area", "1.1x", "panorama"],
)
def test_close_to_area_averaging(width: int, height: int) -> None:
    rgb = photo_like(width, height, seed=5)
    scale = 1600 / max(width, height)
    out = shrink_to(rgb, scale)
    size = (round(width * scale), round(height * scale))
    assert out.shape == (size[1], size[0], 3) and out.dtype == np.uint8
    exact = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    assert np.abs(out.astype(int) - exact).mean() < 1.2
    assert ssim(out, exact) > 0.975


def test_no_upscaling() -> None:
    rgb = photo_like(64, 48, seed=1)
    assert shrink_to(rgb, 1.0) is rgb
