"""worker.encode and the output part of the job contract (OutputSpec)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from cutout.job import OutputFormat, OutputSpec
from tests.support.effects_inputs import cutout
from worker.encode import encode


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _no_metadata(image: Image.Image) -> None:
    assert len(image.getexif()) == 0
    for key in ("exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "dpi", "gps"):
        assert key not in image.info


@pytest.fixture
def rgba() -> np.ndarray:
    return cutout()[0]


def test_png_is_lossless_where_visible(rgba: np.ndarray) -> None:
    out = encode(rgba, OutputSpec(format=OutputFormat.PNG))
    assert (out.content_type, out.extension, out.width, out.height) == (
        "image/png",
        "png",
        240,
        160,
    )
    image = _decode(out.data)
    assert image.format == "PNG" and image.mode == "RGBA"
    back = np.asarray(image)
    visible = rgba[:, :, 3] > 0
    np.testing.assert_array_equal(back[visible], rgba[visible])
    assert (back[~visible] == 0).all()  # the removed background is not hidden in the file
    _no_metadata(image)


def test_png_drops_redundant_channels(rgba: np.ndarray) -> None:
    gray = rgba.copy()
    gray[:, :, 1] = gray[:, :, 2] = gray[:, :, 0]
    assert _decode(encode(gray, OutputSpec()).data).mode == "LA"
    opaque = rgba.copy()
    opaque[:, :, 3] = 255
    image = _decode(encode(opaque, OutputSpec()).data)
    assert image.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(image), opaque[:, :, :3])
    gray[:, :, 3] = 255
    assert _decode(encode(gray, OutputSpec()).data).mode == "L"
    almost_gray = gray.copy()
    almost_gray[100, 200, 2] ^= 1  # one pixel off gray, missed by the sparse sample
    image = _decode(encode(almost_gray, OutputSpec()).data)
    assert image.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(image), almost_gray[:, :, :3])


def test_webp_lossless_and_lossy(rgba: np.ndarray) -> None:
    out = encode(rgba, OutputSpec(format=OutputFormat.WEBP))
    assert (out.content_type, out.extension) == ("image/webp", "webp")
    image = _decode(out.data)
    assert image.format == "WEBP" and image.mode == "RGBA"
    visible = rgba[:, :, 3] > 0
    np.testing.assert_array_equal(np.asarray(image)[visible], rgba[visible])
    _no_metadata(image)
    lossy = encode(rgba, OutputSpec(format=OutputFormat.WEBP, quality=60))
    image = _decode(lossy.data)
    assert image.format == "WEBP" and image.size == (240, 160)
    assert len(lossy.data) < len(out.data)
    diff = np.abs(np.asarray(image.convert("RGBA")).astype(int) - rgba.astype(int))[visible]
    assert diff.mean() < 8


def test_jpeg_is_flattened_on_the_matte(rgba: np.ndarray) -> None:
    out = encode(rgba, OutputSpec(format=OutputFormat.JPEG, matte="#ff0000", quality=95))
    assert (out.content_type, out.extension) == ("image/jpeg", "jpg")
    image = _decode(out.data)
    assert image.format == "JPEG" and image.mode == "RGB"
    back = np.asarray(image).astype(int)
    clear = rgba[:, :, 3] == 0
    assert np.abs(back[clear] - (255, 0, 0)).mean() < 6
    solid = rgba[:, :, 3] == 255
    assert np.abs(back[solid] - rgba[solid, :3]).mean() < 6
    _no_metadata(image)


def test_jpeg_defaults_to_white() -> None:
    rgba = np.zeros((32, 32, 4), np.uint8)
    back = np.asarray(_decode(encode(rgba, OutputSpec(format=OutputFormat.JPEG)).data))
    assert back.min() >= 250


def test_mask_is_the_alpha_as_one_channel(rgba: np.ndarray) -> None:
    out = encode(rgba, OutputSpec(format=OutputFormat.MASK))
    assert (out.content_type, out.extension) == ("image/png", "png")
    image = _decode(out.data)
    assert image.mode == "L"
    np.testing.assert_array_equal(np.asarray(image), rgba[:, :, 3])


def test_exif_and_gps_of_an_input_never_reach_the_output() -> None:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0112] = 6  # Orientation
    exif[0x8825] = {1: "N", 2: (52.0, 22.0, 1.0)}  # GPS IFD
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "orange").save(buffer, format="JPEG", exif=exif)
    source = Image.open(io.BytesIO(buffer.getvalue()))
    assert len(source.getexif()) > 0
    rgb = np.asarray(source.convert("RGB"))
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    specs = [OutputSpec(format=f) for f in OutputFormat]
    specs.append(OutputSpec(format=OutputFormat.WEBP, quality=80))
    for spec in specs:
        _no_metadata(_decode(encode(rgba, spec).data))


@pytest.mark.parametrize(
    "bad",
    [np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 4), np.float32), np.zeros((0, 4, 4), np.uint8)],
)
def test_bad_arrays(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        encode(bad, OutputSpec())


def test_output_spec_is_canonical() -> None:
    assert OutputSpec().model_dump(mode="json") == {"format": "png", "quality": None, "matte": None}
    jpeg = OutputSpec(format=OutputFormat.JPEG)
    assert (jpeg.quality, jpeg.matte) == (90, "#ffffff")
    assert OutputSpec(format=OutputFormat.JPEG, matte="#FFF", quality=90) == jpeg
    assert OutputSpec.model_validate(jpeg.model_dump(mode="json")) == jpeg
    assert OutputSpec(format=OutputFormat.WEBP).quality is None
    assert OutputSpec(format=OutputFormat.WEBP, quality=75).quality == 75


@pytest.mark.parametrize(
    "spec",
    [{"format": "gif"}, {"format": "png", "quality": 80}, {"format": "mask", "quality": 80},
     {"format": "webp", "matte": "#000000"}, {"format": "png", "matte": "#000000"},
     {"format": "jpeg", "matte": "blue"}, {"format": "webp", "quality": 0},
     {"format": "jpeg", "quality": 101}, {"format": "png", "lossless": True}],
)  # fmt: skip
def test_output_spec_rejects_what_the_format_cannot_use(spec: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        OutputSpec.model_validate(spec)
