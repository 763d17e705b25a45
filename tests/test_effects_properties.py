"""Properties every effect promises: shape, dtype, alpha, determinism, purity, robustness."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import effects
from effects import EffectContext, background, blackwhite, crop, halftone, retro8bit
from tests.support.effects_inputs import cutout, photo

ALL = effects.names()
KEEPS_ALPHA = ["color", "blackwhite", "popart", "halftone"]
GRAY = ["blackwhite", "halftone"]


def _run(name: str, rgba: np.ndarray, ctx: EffectContext, **params: object) -> np.ndarray:
    return effects.run([(name, effects.validate(name, params))], rgba, ctx)


@pytest.mark.parametrize("name", ALL)
def test_shape_dtype_and_purity(name: str) -> None:
    rgba, ctx = cutout()
    before = rgba.copy()
    out = _run(name, rgba, ctx)
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 4
    if name != "crop":
        assert out.shape == rgba.shape
    np.testing.assert_array_equal(rgba, before)  # the input is never written


@pytest.mark.parametrize("name", ALL)
def test_deterministic(name: str) -> None:
    rgba, ctx = cutout()
    np.testing.assert_array_equal(_run(name, rgba, ctx), _run(name, rgba.copy(), ctx))


@pytest.mark.parametrize("name", KEEPS_ALPHA)
def test_looks_keep_alpha_exactly(name: str) -> None:
    rgba, ctx = cutout()
    np.testing.assert_array_equal(_run(name, rgba, ctx)[:, :, 3], rgba[:, :, 3])


@pytest.mark.parametrize("name", GRAY)
def test_black_and_white_looks_are_gray(name: str) -> None:
    rgba, ctx = cutout()
    out = _run(name, rgba, ctx)
    assert (out[:, :, 0] == out[:, :, 1]).all() and (out[:, :, 1] == out[:, :, 2]).all()


def test_blackwhite_seed_changes_only_the_grain() -> None:
    rgba, ctx = cutout()
    a = _run("blackwhite", rgba, ctx, seed=1)
    b = _run("blackwhite", rgba, ctx, seed=2)
    assert not np.array_equal(a, b)
    diff = np.abs(a.astype(int) - b.astype(int))[:, :, 0]
    assert diff.mean() < 12  # same picture, different grain
    np.testing.assert_array_equal(a, _run("blackwhite", rgba, ctx, seed=1))
    clean = _run("blackwhite", rgba, ctx, grain=0.0, seed=1)
    np.testing.assert_array_equal(clean, _run("blackwhite", rgba, ctx, grain=0.0, seed=2))


def test_blackwhite_keeps_drawn_grain_as_it_was_drawn() -> None:
    """Kept grain is the grain a fresh draw gives, cannot be written to, and big grids
    (beyond the memory bound) are drawn each time, not kept."""
    blackwhite._kept_noise.cache_clear()
    rgba, ctx = cutout()
    first = _run("blackwhite", rgba, ctx, seed=5)
    assert blackwhite._kept_noise.cache_info().currsize == 1
    np.testing.assert_array_equal(first, _run("blackwhite", rgba, ctx, seed=5))
    assert blackwhite._kept_noise.cache_info().hits == 1
    kept = blackwhite._noise(9, 30, 40)
    fresh = np.random.default_rng(9).standard_normal((30, 40), dtype=np.float32)
    np.testing.assert_array_equal(kept, fresh)
    assert blackwhite._noise(9, 30, 40) is kept and not kept.flags.writeable
    side = int(blackwhite._KEPT_GRAIN_CELLS**0.5) + 1
    assert blackwhite._noise(9, side, side) is not blackwhite._noise(9, side, side)


def test_a_smaller_rendition_gets_the_full_grain_area_averaged_and_kept() -> None:
    """A display rendition's grain grid is finer than its pixels: it gets the full
    rendition's grid averaged down (what downscaling the full result does to the grain),
    kept read-only for the next photo of that size, and big ones are not kept."""
    blackwhite._kept_averaged_noise.cache_clear()
    rgba, _ = cutout()
    h, w = rgba.shape[:2]
    ctx = EffectContext(full_shape=(h * 3, w * 3))
    first = _run("blackwhite", rgba, ctx, seed=4, grain_size=1.0)
    assert blackwhite._kept_averaged_noise.cache_info().currsize == 1
    np.testing.assert_array_equal(first, _run("blackwhite", rgba, ctx, seed=4, grain_size=1.0))
    assert blackwhite._kept_averaged_noise.cache_info().hits == 1
    kept = blackwhite._averaged_noise(9, (80, 60), (40, 30))
    grid = np.random.default_rng(9).standard_normal((60, 80), dtype=np.float32)
    np.testing.assert_allclose(kept, grid.reshape(30, 2, 40, 2).mean(axis=(1, 3)), atol=1e-5)
    assert blackwhite._averaged_noise(9, (80, 60), (40, 30)) is kept and not kept.flags.writeable
    side = int(blackwhite._KEPT_GRAIN_CELLS**0.5) + 1
    size, grid_size = (side, side), (side + 1, side + 1)
    assert blackwhite._averaged_noise(9, grid_size, size) is not blackwhite._averaged_noise(
        9, grid_size, size
    )


def test_blackwhite_uses_tri_x_weights() -> None:
    rgba, ctx = cutout()
    out = _run("blackwhite", rgba, ctx, contrast=0.0, sharpen=0.0, halation=0.0, grain=0.0)
    expected = rgba[:, :, :3].astype(np.float64) @ np.array(blackwhite.WEIGHTS)
    assert np.abs(out[:, :, 0] - expected).max() <= 1.0


def test_blackwhite_contrast_steepens_midtones() -> None:
    ramp = np.tile(np.linspace(0, 255, 256).astype(np.uint8), (8, 1))
    rgba = np.dstack([ramp, ramp, ramp, np.full_like(ramp, 255)])
    flat = dict(sharpen=0.0, halation=0.0, grain=0.0)
    soft = _run("blackwhite", rgba, EffectContext(), contrast=0.0, **flat)[4, :, 0].astype(int)
    hard = _run("blackwhite", rgba, EffectContext(), contrast=2.0, **flat)[4, :, 0].astype(int)
    assert (np.diff(hard) >= 0).all()  # still monotonic
    assert hard[64] < soft[64] and hard[192] > soft[192]
    assert abs(hard[128] - soft[128]) <= 2


def test_halftone_paper_is_white_where_transparent() -> None:
    rgba, ctx = cutout()
    out = _run("halftone", rgba, ctx)
    pitch = max(3, round(max(rgba.shape[:2]) * 8.0 / 1000))  # the default spacing
    near = cv2.dilate((rgba[:, :, 3] > 0).astype(np.uint8), np.ones((2 * pitch + 1,) * 2))
    assert (out[near == 0, :3] == 255).all()  # no dot in a cell the subject does not touch
    inside = out[rgba[:, :, 3] == 255, 0]
    assert (inside == 0).any() and (inside == 255).any()  # dots on paper


def test_halftone_darker_input_gives_more_ink() -> None:
    light = np.full((120, 120, 4), 255, dtype=np.uint8)
    light[:, :, :3] = 200
    dark = light.copy()
    dark[:, :, :3] = 60
    ink = [
        255 - _run("halftone", x, EffectContext(), edges=0.0)[:, :, 0].mean() for x in (light, dark)
    ]
    assert ink[1] > ink[0] * 2


def test_halftone_dot_tiles_grow_with_level() -> None:
    tiles = halftone.dot_tiles(12, 1.2)
    assert tiles.shape == (halftone.DOT_LEVELS, 12, 12)
    assert (tiles[0] == 255).all()
    ink = [(255 - t.astype(int)).sum() for t in tiles]
    assert ink == sorted(ink) and len(set(ink)) == len(ink)


def test_retro8bit_uses_only_palette_colours_and_binary_alpha() -> None:
    rgba, ctx = cutout()
    for name, palette in retro8bit.PALETTES.items():
        out = _run("retro8bit", rgba, ctx, palette=name)
        colours = {tuple(int(v) for v in c) for c in out[:, :, :3].reshape(-1, 3)}
        allowed = {tuple(int(h[i : i + 2], 16) for i in (1, 3, 5)) for h in palette}
        assert colours <= allowed
        assert set(np.unique(out[:, :, 3])) <= {0, 255}
    assert len(retro8bit.PETS) == 32 and len(set(retro8bit.PETS)) == 32


def test_retro8bit_blocks_shrink_at_edges() -> None:
    rgba, ctx = cutout("chelsea.png", width=None)
    out = _run("retro8bit", rgba, ctx, block=20.0, dither=False)
    block = 4 * round(451 * 20.0 / 1000 / 4)
    # every block-aligned square is one colour or split into 2x2 or 4x4 uniform parts
    sizes = set()
    for y in range(0, out.shape[0] - block, block):
        for x in range(0, out.shape[1] - block, block):
            square = out[y : y + block, x : x + block]
            for size in (block, block // 2, block // 4):
                parts = square.reshape(block // size, size, block // size, size, 4)
                if (parts == parts[:, :1, :, :1]).all():
                    sizes.add(size)
                    break
            else:
                pytest.fail(f"block at {x},{y} is not split into uniform squares")
    assert sizes == {block, block // 2, block // 4}


def test_background_is_opaque_and_keeps_the_subject() -> None:
    rgba, ctx = cutout()
    out = _run("background", rgba, ctx, color="#102030")
    assert (out[:, :, 3] == 255).all()
    opaque = rgba[:, :, 3] == 255
    np.testing.assert_array_equal(out[opaque, :3], rgba[opaque, :3])
    assert (out[rgba[:, :, 3] == 0, :3] == (0x10, 0x20, 0x30)).all()


def test_background_shadow_darkens_below_the_subject() -> None:
    rgba, ctx = cutout()
    plain = _run("background", rgba, ctx, shadow=0.0).astype(int)
    shaded = _run("background", rgba, ctx, shadow=1.0).astype(int)
    assert (shaded <= plain).all()
    below = rgba[:, :, 3] == 0
    assert shaded[below].sum() < plain[below].sum()


def test_background_blur_leaves_the_subject_out() -> None:
    rgb = np.zeros((90, 120, 3), dtype=np.uint8)
    rgb[:, :, 2] = 255  # blue surroundings, red subject
    alpha = np.zeros((90, 120), dtype=np.uint8)
    alpha[30:60, 40:80] = 255
    rgb[alpha == 255] = (255, 0, 0)
    rgba = np.dstack([rgb, alpha])
    out = _run("background", rgba, EffectContext(original=rgb), mode="blur", blur_radius=40.0)
    around = out[alpha == 0]
    assert around[:, 0].max() < 40  # no red halo bled into the backdrop


def test_background_image_covers_the_frame() -> None:
    rgba, ctx = cutout()
    second = photo("coffee.png")
    ctx = EffectContext(original=ctx.original, background=second)
    out = effects.run(
        [("background", effects.validate("background", {"mode": "image", "image": "k"}))],
        rgba,
        ctx,
    )
    assert out.shape == rgba.shape and (out[:, :, 3] == 255).all()
    assert out[0, 0, :3].tolist() != rgba[0, 0, :3].tolist()


@pytest.mark.parametrize(
    ("params", "ctx", "message"),
    [
        ({"mode": "blur"}, EffectContext(), "ctx.original"),
        ({"mode": "blur"}, EffectContext(original=np.zeros((5, 5, 3), np.uint8)), "same size"),
        ({"mode": "blur"}, EffectContext(original=np.zeros((160, 240), np.uint8)), "HxWx3"),
        ({"mode": "image", "image": "k"}, EffectContext(), "ctx.background"),
    ],
)
def test_background_missing_context_is_a_clear_error(
    params: dict[str, object], ctx: EffectContext, message: str
) -> None:
    rgba, _ = cutout()
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        background.apply(rgba, background.BackgroundParams.model_validate(params), ctx)


def test_crop_contains_the_subject_with_margin() -> None:
    rgba, ctx = cutout()
    out = _run("crop", rgba, ctx, margin=0.0)
    ys, xs = np.nonzero(rgba[:, :, 3] >= 26)
    assert out.shape[:2] == (ys.max() - ys.min() + 1, xs.max() - xs.min() + 1)
    np.testing.assert_array_equal(out, rgba[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])
    wider = _run("crop", rgba, ctx, margin=0.2)
    assert wider.shape[0] > out.shape[0] and wider.shape[1] > out.shape[1]


@pytest.mark.parametrize("fit", ["contain", "cover"])
@pytest.mark.parametrize("aspect", ["4:5", "1:1", "16:9"])
def test_crop_aspect_and_size(fit: str, aspect: str) -> None:
    rgba, ctx = cutout()
    aw, ah = (int(v) for v in aspect.split(":"))
    out = _run("crop", rgba, ctx, aspect=aspect, fit=fit)
    assert abs(out.shape[1] / out.shape[0] - aw / ah) < 2 / min(out.shape[:2])
    sized = _run("crop", rgba, ctx, aspect=aspect, fit=fit, size=200)
    assert max(sized.shape[:2]) == 200
    assert (
        sized.shape[1] == round(200 * aw / ah)
        if aw < ah
        else sized.shape[0] == round(200 * ah / aw)
    )


def test_crop_contain_keeps_all_of_the_subject_and_cover_its_top() -> None:
    rgba, ctx = cutout()
    subject = int((rgba[:, :, 3] >= 26).sum())
    contained = _run("crop", rgba, ctx, aspect="4:5", fit="contain")
    assert int((contained[:, :, 3] >= 26).sum()) == subject
    tall = np.zeros((400, 100, 4), dtype=np.uint8)
    tall[50:350, 20:80] = 255  # a subject much taller than 16:9
    covered = _run("crop", tall, EffectContext(), aspect="16:9", fit="cover", margin=0.0)
    assert covered.shape[1] / covered.shape[0] == pytest.approx(16 / 9, abs=0.05)
    assert covered.shape[0] >= 100  # at least the subject's top third
    frame = crop.frame(tall, crop.CropParams(aspect="16:9", fit="cover", margin=0.0))
    assert frame.y0 == 50  # anchored at the subject's top


def test_crop_resizes_premultiplied() -> None:
    rgba = np.zeros((64, 64, 4), dtype=np.uint8)
    rgba[17:46, 17:46] = (250, 250, 250, 255)
    rgba[rgba[:, :, 3] == 0, :3] = (0, 0, 0)  # black hidden colour must not darken edges
    out = _run("crop", rgba, EffectContext(), margin=0.5, size=24)
    edge = out[(out[:, :, 3] > 0) & (out[:, :, 3] < 255)]
    assert len(edge) and edge[:, :3].min() >= 240


def test_crop_without_subject_frames_the_whole_image() -> None:
    rgba, ctx = cutout()
    rgba[:, :, 3] = 0
    np.testing.assert_array_equal(_run("crop", rgba, ctx, margin=0.0), rgba)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (5, 3), (33, 64)])
def test_tiny_images(name: str, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, (*shape, 4), dtype=np.uint8)
    ctx = EffectContext(original=np.ascontiguousarray(rgba[:, :, :3]))
    out = _run(name, rgba, ctx)
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 4
    if name != "crop":
        assert out.shape == rgba.shape


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("alpha", [0, 255])
def test_constant_alpha(name: str, alpha: int) -> None:
    rgba, ctx = cutout()
    rgba[:, :, 3] = alpha
    out = _run(name, rgba, ctx)
    assert out.shape[2] == 4


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize(
    "bad",
    [np.zeros((8, 8, 4), np.float32), np.zeros((8, 8, 3), np.uint8), np.zeros((0, 8, 4), np.uint8)],
    ids=["float", "rgb", "empty"],
)
def test_bad_arrays_are_clear_errors(name: str, bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"uint8|RGBA"):
        _run(name, bad, EffectContext())


def test_crop_output_is_capped_and_a_frame_far_past_the_photo_is_cheap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rgba, ctx = cutout()
    monkeypatch.setattr(crop, "MAX_PIXELS", 20_000)
    steps = [
        ("crop", effects.validate("crop", {"aspect": "1:10"})),
        ("background", effects.validate("background", {"mode": "blur"})),
    ]
    out = effects.run(steps, rgba, ctx)  # the original is reframed to the same size
    assert out.shape[0] * out.shape[1] <= 20_000
    assert out.shape[0] / out.shape[1] == pytest.approx(10, rel=0.05)
    subject = _run("crop", rgba, ctx, aspect="1:10")
    assert (subject[:, :, 3] > 0).any() and subject[0, 0, 3] == 0  # subject inside, padding clear
