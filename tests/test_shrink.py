"""worker.shrink.shrink_to and effects.area_average stay close to a one-step area resize at
every ratio, and are that resize exactly for a whole factor."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cutout.samples import photo_like
from effects import area_average
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


@pytest.mark.parametrize(
    ("source", "target"),
    [((1603, 1206), (404, 304)), ((1638, 1235), (1600, 1206)), ((1001, 751), (580, 435))],
    ids=["retro8bit-cells-3.97x", "halftone-paper-1.02x", "odd-1.73x"],
)
def test_area_average_is_close_to_area_averaging(
    source: tuple[int, int], target: tuple[int, int]
) -> None:
    rgba = np.dstack([photo_like(*source, seed=2), photo_like(*source, seed=3)[..., 0]])
    out = area_average(rgba, *target)
    assert out.shape == (target[1], target[0], 4) and out.dtype == np.uint8
    exact = cv2.resize(rgba, target, interpolation=cv2.INTER_AREA)
    assert np.abs(out.astype(int) - exact).mean() < 1.2
    assert ssim(out[..., :3], exact[..., :3]) > 0.975


def test_area_average_by_a_whole_factor_is_exact() -> None:
    rgb = photo_like(1210, 900, seed=4)
    np.testing.assert_array_equal(
        area_average(rgb, 121, 90), cv2.resize(rgb, (121, 90), interpolation=cv2.INTER_AREA)
    )
    assert area_average(rgb, 1210, 900) is rgb
