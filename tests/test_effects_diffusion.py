"""The vectorised Floyd-Steinberg against a plain serial reference."""

from __future__ import annotations

import math

import numpy as np
import pytest

from effects._diffusion import floyd_steinberg


def reference(values: np.ndarray, levels: int) -> np.ndarray:
    """Textbook Floyd-Steinberg in raster order, one pixel at a time in plain Python."""
    h, w = values.shape
    work = [[float(v) for v in row] for row in values]
    out = np.zeros((h, w), dtype=np.uint8)
    top = levels - 1
    for y in range(h):
        for x in range(w):
            old = work[y][x]
            q = min(max(math.floor(old * top + 0.5), 0), top)
            out[y, x] = q
            err = old - q / top
            for dx, dy, weight in ((1, 0, 7), (-1, 1, 3), (0, 1, 5), (1, 1, 1)):
                if 0 <= x + dx < w and y + dy < h:
                    work[y + dy][x + dx] += err * weight / 16
    return out


@pytest.mark.parametrize("levels", [2, 3, 6, 17])
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (2, 2), (13, 21), (40, 33), (33, 8)])
def test_matches_serial_reference(shape: tuple[int, int], levels: int) -> None:
    rng = np.random.default_rng(levels * 100 + shape[0])
    values = rng.random(shape, dtype=np.float32)
    np.testing.assert_array_equal(floyd_steinberg(values, levels), reference(values, levels))


def test_matches_reference_on_a_gradient_with_out_of_range_values() -> None:
    values = np.linspace(-0.2, 1.2, 30 * 30, dtype=np.float32).reshape(30, 30)
    np.testing.assert_array_equal(floyd_steinberg(values, 4), reference(values, 4))


def test_preserves_mean_tone() -> None:
    values = np.full((64, 64), 0.3, dtype=np.float32)
    binary = floyd_steinberg(values, 2)
    assert set(np.unique(binary)) == {0, 1}
    assert binary.mean() == pytest.approx(0.3, abs=0.01)


def test_does_not_modify_its_input() -> None:
    values = np.random.default_rng(1).random((8, 8), dtype=np.float32)
    before = values.copy()
    floyd_steinberg(values, 3)
    np.testing.assert_array_equal(values, before)


@pytest.mark.parametrize(
    ("values", "levels"),
    [(np.zeros((2, 2, 2), np.float32), 2), (np.zeros((2, 2), np.float32), 1)],
)
def test_bad_arguments(values: np.ndarray, levels: int) -> None:
    with pytest.raises(ValueError):
        floyd_steinberg(values, levels)
