"""Renditions: every result in a small display WebP (stored and recorded first) and the
full one; the display one looks like the full one downscaled, effect by effect."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image

import effects
from cutout import results
from cutout.backends import Backends, open_backends
from cutout.errors import ConfigurationError, InvalidInput
from cutout.job import (
    ClientInfo,
    DisplaySpec,
    EffectResult,
    ErrorInfo,
    OutputFormat,
    OutputSpec,
    Priority,
    Rendition,
)
from cutout.samples import jpeg_bytes, photo_like
from cutout.settings import Settings
from ingest.models import SubmissionRequest
from ingest.presenting import job_view
from ingest.service import IngestService, Submission
from tests.support.icc import display_p3_profile
from tests.support.render import render
from tests.support.ssim import ssim
from worker.decode import decode_image
from worker.segmenters.base import ArrayMatte
from worker.shrink import shrink_to

FIXTURES = Path(__file__).parent / "fixtures"
#: Only ``crop`` needs a parameter here: an output size, which the display scales.
PARAMS: dict[str, dict[str, Any]] = {"background": {"mode": "blur"}, "crop": {"size": 900}}


def _on_white(rgba: np.ndarray) -> np.ndarray:
    alpha = rgba[..., 3:].astype(np.float32) / 255
    return np.round(rgba[..., :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)


def _downscaled(rgba: np.ndarray, width: int, height: int) -> np.ndarray:
    premultiplied = cv2.cvtColor(rgba, cv2.COLOR_RGBA2mRGBA)
    small = cv2.resize(premultiplied, (width, height), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_mRGBA2RGBA)


@pytest.mark.parametrize("name", effects.names())
def test_each_display_rendition_looks_like_the_full_one_downscaled(name: str) -> None:
    """SSIM >= 0.9 (colour over white, and alpha) between the display rendition, computed
    from the photo at display size with the matte at that size, and the full rendition
    area-averaged to the same size: grain, dots and blocks are scaled to match."""
    cat = np.asarray(Image.open(FIXTURES / "chelsea.png").convert("RGB"))
    rgb = cv2.resize(cat, (2000, 1500), interpolation=cv2.INTER_CUBIC)
    y, x = np.ogrid[0:240, 0:320]
    ellipse = np.clip(1.5 - (((x - 160) / 112) ** 2 + ((y - 120) / 96) ** 2), 0, 1)
    matte = ArrayMatte(ellipse.astype(np.float32))
    spec = DisplaySpec(long_side=640)
    small = shrink_to(rgb, spec.scale(*rgb.shape[:2]))
    params = effects.validate(name, PARAMS.get(name, {}))

    full = effects.run(
        [(name, params)], np.dstack([rgb, matte.at(1500, 2000)]), effects.EffectContext(rgb)
    )
    display = effects.run(
        [(name, params)],
        np.dstack([small, matte.at(*small.shape[:2])]),
        effects.EffectContext(small, full_shape=(1500, 2000)),
    )
    h, w = display.shape[:2]
    assert max(h, w) <= 640
    assert abs(w / h - full.shape[1] / full.shape[0]) < 0.02
    reference = _downscaled(full, w, h)
    assert ssim(_on_white(display), _on_white(reference)) >= 0.9
    assert ssim(display[..., 3], reference[..., 3]) >= 0.9


def test_ssim_tells_similar_from_different() -> None:
    """The SSIM used above is not vacuous: 1 for equal images, low for unrelated noise."""
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (64, 64), dtype=np.uint8)
    b = rng.integers(0, 256, (64, 64), dtype=np.uint8)
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(a, b) < 0.1


# -- the plan and its cache keys --------------------------------------------------------


@pytest.fixture
def backends(settings: Settings) -> Iterator[Backends]:
    yield open_backends(settings.with_overrides(autoscale=False))


def _submit(
    settings: Settings,
    backends: Backends,
    photo: bytes,
    *,
    display: bool = True,
    output: OutputSpec | None = None,
    names: tuple[str, ...] = ("color", "blackwhite"),
) -> Any:
    service = IngestService(settings.with_overrides(autoscale=False), backends)
    return service.submit(
        Submission(
            effects=[(n, {}) for n in names],
            output=output or OutputSpec(),
            priority=Priority.STANDARD,
            client=ClientInfo(),
            data=photo,
            display=display,
        )
    )


def test_the_plan_puts_every_display_rendition_first_with_its_own_keys(
    settings: Settings, backends: Backends
) -> None:
    job = _submit(settings, backends, jpeg_bytes(photo_like(64, 48))).job
    planned = results.plan(job, settings.model_identity)
    assert [(p.rendition, p.effect) for p in planned] == [
        (Rendition.DISPLAY, "color"),
        (Rendition.DISPLAY, "blackwhite"),
        (Rendition.FULL, "color"),
        (Rendition.FULL, "blackwhite"),
    ]
    display, full = planned[0], planned[2]
    assert display.output == OutputSpec(format=OutputFormat.WEBP, quality=80)
    assert display.blob_key.endswith(".webp") and full.blob_key.endswith(".png")
    assert len({p.cache_key for p in planned}) == 4

    # the full keys are those of a full-only job, i.e. of results stored before renditions
    full_only = job.model_copy(update={"display": None})
    assert [p.cache_key for p in results.plan(full_only, settings.model_identity)] == [
        p.cache_key for p in planned[2:]
    ]
    # the display size and the model identity (which names the runtime) are in the key
    bigger = job.model_copy(update={"display": DisplaySpec(long_side=2048)})
    assert results.plan(bigger, settings.model_identity)[0].cache_key != display.cache_key
    assert results.plan(job, "other-model@1")[0].cache_key != display.cache_key


def test_display_renditions_are_recorded_before_the_full_ones(
    settings: Settings, backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    photo = jpeg_bytes(photo_like(2400, 1800))
    settings = settings.with_overrides(display_long_side=800)
    job = _submit(settings, backends, photo).job
    recorded: list[tuple[str, Rendition]] = []
    real = backends.status.record_result

    def spy(
        job_id: str,
        effect: str,
        result: EffectResult | None = None,
        error: ErrorInfo | None = None,
        *,
        rendition: Rendition = Rendition.FULL,
    ) -> Any:
        recorded.append((effect, rendition))
        return real(job_id, effect, result, error, rendition=rendition)

    monkeypatch.setattr(backends.status, "record_result", spy)
    rendered = render(settings, backends, job, photo)

    assert sorted(recorded[:2]) == [("blackwhite", Rendition.DISPLAY), ("color", Rendition.DISPLAY)]
    assert sorted(recorded[2:]) == [("blackwhite", Rendition.FULL), ("color", Rendition.FULL)]
    assert rendered.stages["display"] > 0 and "display.effect.blackwhite" in rendered.stages
    stored = backends.status.get(job.id)
    for name in ("color", "blackwhite"):
        display, full = stored.displays[name], stored.results[name]
        assert (display.format, display.width, display.height) == ("webp", 800, 600)
        assert (full.format, full.width, full.height) == ("png", 2400, 1800)
        assert display.bytes < full.bytes / 4
        with Image.open(io.BytesIO(backends.blobs.get(display.key))) as image:
            assert (image.format, image.mode, image.size) == ("WEBP", "RGBA", (800, 600))


def test_a_full_only_job_gets_no_display_and_a_small_photo_is_not_upscaled(
    settings: Settings, backends: Backends
) -> None:
    photo = jpeg_bytes(photo_like(300, 200))
    full_only = _submit(settings, backends, photo, display=False, names=("color",)).job
    render(settings, backends, full_only, photo)
    stored = backends.status.get(full_only.id)
    assert stored.display is None and stored.displays == {} and set(stored.results) == {"color"}

    job = _submit(settings, backends, photo, output=OutputSpec(format=OutputFormat.JPEG)).job
    render(settings, backends, job, photo)
    stored = backends.status.get(job.id)
    assert (stored.displays["color"].width, stored.displays["color"].height) == (300, 200)
    assert stored.results["color"].format == "jpeg"
    view = job_view(stored, lambda key: f"/blobs/{key}")
    assert view["display"] == {"long_side": 1600, "quality": 80}
    assert view["displays"]["color"]["url"].endswith(".webp")
    assert view["results"]["color"]["url"].endswith(".jpg")


def test_a_request_may_ask_for_the_full_rendition_only() -> None:
    assert SubmissionRequest.parse({"renditions": "full"}).submission("k").display is False
    assert SubmissionRequest.parse({}).submission("k").display is True
    assert SubmissionRequest.parse({"renditions": "display,full"}).submission("k").display
    for bad in ("display", "thumbnail"):
        with pytest.raises(InvalidInput) as raised:
            SubmissionRequest.parse({"renditions": bad})
        assert raised.value.code == "invalid_output"


def test_display_quality_has_a_floor() -> None:
    with pytest.raises(ValueError):
        DisplaySpec(quality=50)
    with pytest.raises(ConfigurationError, match="DISPLAY_QUALITY"):
        Settings.from_env({"CUTOUT_DISPLAY_QUALITY": "50"})


# -- colour: ICC profiles --------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_display_p3_photo_is_converted_to_srgb(fmt: str) -> None:
    """P3's primaries are wider than sRGB's: the same numbers in sRGB must be more
    saturated; a neutral grey stays neutral."""
    pixels = np.zeros((8, 8, 3), np.uint8)
    pixels[:4] = (180, 60, 60)
    pixels[4:] = (128, 128, 128)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, icc_profile=display_p3_profile(), quality=100)
    rgb = decode_image(buffer.getvalue(), max_pixels=10**6)
    r, g, b = (int(v) for v in rgb[0, 0])
    assert r > 190 and g < 50 and b < 56
    grey = rgb[7, 7].astype(int)
    assert grey.max() - grey.min() <= 1 and abs(int(grey[0]) - 128) <= 2


def test_an_srgb_profile_leaves_the_pixels_alone() -> None:
    from PIL import ImageCms

    pixels = photo_like(16, 16)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", icc_profile=srgb)
    np.testing.assert_array_equal(decode_image(buffer.getvalue(), max_pixels=10**6), pixels)


def test_the_display_estimates_foreground_colours_at_reduced_size() -> None:
    """At the display's own size: opaque pixels keep the photo's colours, alpha is
    untouched, and the soft edge's colours stay close to the full-size estimate's."""
    from tests.support.segmenters import ellipse_alpha
    from worker.compose import compose_cutout
    from worker.render import DISPLAY_FOREGROUND_SCALE

    rgb = photo_like(1600, 1200)
    alpha = ellipse_alpha(1200, 1600)
    full = compose_cutout(rgb, alpha, estimate_foreground=True, device="cpu")
    reduced = compose_cutout(
        rgb,
        alpha,
        estimate_foreground=True,
        device="cpu",
        foreground_scale=DISPLAY_FOREGROUND_SCALE,
    )
    np.testing.assert_array_equal(reduced[..., 3], alpha)
    opaque = alpha == 255
    np.testing.assert_array_equal(reduced[opaque, :3], rgb[opaque])
    edge = (alpha > 25) & (alpha < 230)
    difference = np.abs(reduced[edge, :3].astype(int) - full[edge, :3].astype(int))
    assert difference.mean() < 8
