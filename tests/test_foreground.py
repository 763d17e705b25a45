"""Foreground estimation in torch against pymatting (the reference's), an independent
numpy transcription of the same algorithm, and a photo whose true colours are known."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from PIL import Image

from cutout.errors import InvalidInput
from tests.conftest import FIXTURES
from worker.compose import compose_cutout
from worker.foreground import TORCH_GRAIN_SIZE, foreground_colours, inline_rows


def _cat_with_soft_alpha() -> tuple[np.ndarray, np.ndarray]:
    image = np.asarray(Image.open(FIXTURES / "chelsea.png").convert("RGB"))
    height, width = image.shape[:2]
    alpha = np.zeros((height, width), np.uint8)
    cv2.ellipse(alpha, (width // 2, height // 2), (width // 3, height // 3), 0, 0, 360, 255, -1)
    return image, cv2.GaussianBlur(alpha, (0, 0), 6)


def _pymatting(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    from pymatting import estimate_foreground_ml

    fg = estimate_foreground_ml(image / 255.0, alpha / 255.0)
    return (255 * np.clip(fg, 0, 1) + 0.5).astype(np.uint8)  # as Remover rounds it


def _jacobi(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The multilevel algorithm with simultaneous updates, written out in numpy."""
    colours, a_full = image.astype(np.float32) / 255, alpha.astype(np.float32) / 255
    h0, w0 = a_full.shape
    fg = colours[a_full > 0.9].sum(0) / ((a_full > 0.9).sum() + 1e-5)
    bg = colours[a_full < 0.1].sum(0) / ((a_full < 0.1).sum() + 1e-5)
    f, b = fg.reshape(1, 1, 3), bg.reshape(1, 1, 3)
    levels = math.ceil(math.log2(max(w0, h0)))

    def nearest(src: np.ndarray, h: int, w: int) -> np.ndarray:
        ys = np.arange(h) * src.shape[0] // h
        xs = np.arange(w) * src.shape[1] // w
        return src[ys][:, xs]

    for level in range(levels + 1):
        w, h = round(w0 ** (level / levels)), round(h0 ** (level / levels))
        img, a = nearest(colours, h, w), nearest(a_full, h, w)
        f, b = nearest(f, h, w), nearest(b, h, w)
        for _ in range(10 if w <= 32 and h <= 32 else 2):
            ap = np.pad(a, 1, mode="edge")
            fp = np.pad(f, ((1, 1), (1, 1), (0, 0)), mode="edge")
            bp = np.pad(b, ((1, 1), (1, 1), (0, 0)), mode="edge")
            b0, b1, total = a[..., None] * img, (1 - a)[..., None] * img, np.zeros_like(a)
            for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                window = (slice(1 + dy, 1 + dy + h), slice(1 + dx, 1 + dx + w))
                da = 1e-5 + np.abs(a - ap[window])
                total += da
                b0 += da[..., None] * fp[window]
                b1 += da[..., None] * bp[window]
            a00, a11, a01 = a * a + total, (1 - a) ** 2 + total, a * (1 - a)
            inv = (1 / (a00 * a11 - a01 * a01))[..., None]
            f = np.clip(inv * (a11[..., None] * b0 - a01[..., None] * b1), 0, 1)
            b = np.clip(inv * (a00[..., None] * b1 - a01[..., None] * b0), 0, 1)
    return (255 * f + 0.5).astype(np.uint8)


def test_it_is_the_multilevel_algorithm() -> None:
    image, alpha = _cat_with_soft_alpha()
    ours = foreground_colours(image, alpha).astype(int)
    diff = np.abs(ours - _jacobi(image, alpha))
    # bands see the updated row above them, so a few pixels round the other way
    assert diff.max() <= 1 and diff.mean() < 0.01


def test_it_agrees_with_pymatting_where_the_cutout_is_visible() -> None:
    image, alpha = _cat_with_soft_alpha()
    ours, reference = foreground_colours(image, alpha), _pymatting(image, alpha)
    visible = alpha > 0
    diff = np.abs(ours.astype(int) - reference.astype(int))[visible]
    # pymatting updates pixel by pixel in place, we update rows at once: with two
    # iterations at full size the two schemes stop at slightly different colours
    assert diff.mean() < 2.5
    assert np.percentile(diff, 95) <= 12
    assert np.all(ours[alpha == 255] == reference[alpha == 255])  # the solid subject


def test_it_removes_the_old_background_as_well_as_pymatting() -> None:
    rng = np.random.default_rng(1)
    height, width = 120, 160
    true_fg = np.empty((height, width, 3), np.float32)
    true_fg[:] = (0.85, 0.55, 0.2)  # an orange cat
    true_fg += rng.normal(0, 0.03, true_fg.shape).astype(np.float32)
    background = np.empty_like(true_fg)
    background[:] = (0.1, 0.3, 0.9)  # in front of a blue wall
    ramp = np.clip((np.arange(width) - 50) / 60, 0, 1).astype(np.float32)  # a soft edge
    a = np.broadcast_to(ramp, (height, width))
    photo = a[..., None] * np.clip(true_fg, 0, 1) + (1 - a[..., None]) * background
    image = (photo * 255 + 0.5).astype(np.uint8)
    alpha = (a * 255 + 0.5).astype(np.uint8)
    edge = (alpha > 25) & (alpha < 230)
    truth = np.clip(true_fg, 0, 1)[edge] * 255

    def error(colours: np.ndarray) -> float:
        return float(np.abs(colours[edge].astype(float) - truth).mean())

    naive, ours, reference = error(image), error(foreground_colours(image, alpha)), None
    reference = error(_pymatting(image, alpha))
    assert ours < naive / 4  # the blue fringe is gone
    assert ours <= reference * 1.25 + 1


def test_compose_cutout_puts_alpha_beside_the_colours() -> None:
    image, alpha = _cat_with_soft_alpha()
    plain = compose_cutout(image, alpha, estimate_foreground=False, device="cpu")
    assert plain.shape == (*alpha.shape, 4) and plain.dtype == np.uint8
    np.testing.assert_array_equal(plain[..., :3], image)
    np.testing.assert_array_equal(plain[..., 3], alpha)
    estimated = compose_cutout(image, alpha, estimate_foreground=True, device="auto")
    np.testing.assert_array_equal(estimated[..., 3], alpha)
    np.testing.assert_array_equal(estimated[..., :3], foreground_colours(image, alpha))


def test_the_inline_estimate_matches_the_default_but_for_rounding() -> None:
    """Narrower bands (the display rendition's, kept on the calling thread) change only
    where the in-place sweep's band edges fall, not the estimate."""
    image, alpha = _cat_with_soft_alpha()
    default = foreground_colours(image, alpha).astype(int)
    inline = foreground_colours(image, alpha, inline=True).astype(int)
    edge = (alpha > 25) & (alpha < 230)
    difference = np.abs(inline[edge] - default[edge])
    assert difference.mean() < 1.0 and np.percentile(difference, 99) <= 3


def test_inline_bands_stay_under_torchs_grain_size() -> None:
    """Every tensor of an inline band (six channels, a halo row and column each side) has
    fewer elements than torch's grain size, so no kernel wakes its threads, and bands are
    as tall as that allows (one more row would cross it)."""
    for width in range(1, TORCH_GRAIN_SIZE // 18 - 2):
        rows = inline_rows(width)
        assert 6 * (rows + 2) * (width + 2) <= TORCH_GRAIN_SIZE
        assert rows == 1 or 6 * (rows + 3) * (width + 2) > TORCH_GRAIN_SIZE


def test_mismatched_inputs_are_refused() -> None:
    image, alpha = _cat_with_soft_alpha()
    with pytest.raises(InvalidInput, match="expected a uint8 alpha of shape"):
        compose_cutout(image, alpha[1:], estimate_foreground=True, device="cpu")
    with pytest.raises(InvalidInput, match="expected an RGB uint8"):
        foreground_colours(image[..., :2], alpha)


def test_tiny_and_flat_images() -> None:
    for height, width in ((1, 1), (1, 7), (5, 1), (2, 3)):
        image = np.full((height, width, 3), 90, np.uint8)
        alpha = np.full((height, width), 128, np.uint8)
        out = foreground_colours(image, alpha)
        assert out.shape == (height, width, 3)
        assert np.all(np.abs(out.astype(int) - 90) <= 1)
