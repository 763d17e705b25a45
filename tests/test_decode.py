"""Whatever a phone or a scanner sends becomes upright 8-bit RGB."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from cutout.codes import ErrorCode
from cutout.errors import InvalidInput
from cutout.samples import jpeg_bytes, photo_like
from tests.support.icc import display_p3_profile
from worker import decode
from worker.decode import decode_image, to_srgb

LIMIT = 50_000_000


def save(image: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("orientation", "shape"),
    [(1, (80, 120)), (3, (80, 120)), (6, (120, 80)), (8, (120, 80))],
)
def test_exif_orientation_is_applied(orientation: int, shape: tuple[int, int]) -> None:
    rgb = decode_image(jpeg_bytes(photo_like(120, 80), orientation=orientation), max_pixels=LIMIT)
    assert rgb.shape == (*shape, 3) and rgb.dtype == np.uint8


def test_rotation_moves_the_pixels() -> None:
    marked = np.zeros((80, 120, 3), np.uint8)
    marked[:20, :20] = 255  # a white top-left corner
    upright = decode_image(jpeg_bytes(marked, quality=95, orientation=6), max_pixels=LIMIT)
    assert upright.shape == (120, 80, 3)
    assert upright[:20, -20:].mean() > 200  # rotated 90° clockwise: now top-right
    assert upright[:20, :20].mean() < 50


def test_cmyk_jpeg() -> None:
    cmyk = Image.fromarray(photo_like(60, 40)).convert("CMYK")
    rgb = decode_image(save(cmyk, "JPEG"), max_pixels=LIMIT)
    assert rgb.shape == (40, 60, 3)
    reference = np.asarray(Image.fromarray(photo_like(60, 40)), np.int16)
    assert np.abs(rgb.astype(np.int16) - reference).mean() < 20


def test_16_bit_grayscale_png_is_scaled_not_clipped() -> None:
    wide = (np.linspace(0, 65535, 64 * 32).reshape(32, 64)).astype(np.uint16)
    rgb = decode_image(save(Image.fromarray(wide), "PNG"), max_pixels=LIMIT)
    assert rgb.shape == (32, 64, 3)
    assert rgb[0, 0, 0] == 0 and rgb[-1, -1, 0] == 255
    assert 100 < rgb[16, 32, 0] < 160  # mid-grey stays mid-grey


@pytest.mark.parametrize("mode", ["L", "LA", "P", "1", "RGBA", "I"])
def test_other_modes_become_rgb(mode: str) -> None:
    image = Image.fromarray(photo_like(50, 30)).convert(mode)
    rgb = decode_image(save(image, "PNG" if mode != "I" else "TIFF"), max_pixels=LIMIT)
    assert rgb.shape == (30, 50, 3) and rgb.dtype == np.uint8


def test_transparent_pixels_become_white() -> None:
    rgba = np.zeros((10, 10, 4), np.uint8)  # fully transparent black
    rgb = decode_image(save(Image.fromarray(rgba, "RGBA"), "PNG"), max_pixels=LIMIT)
    assert (rgb == 255).all()


def test_first_frame_of_an_animated_gif() -> None:
    frames = [Image.fromarray(np.full((20, 30, 3), v, np.uint8)) for v in (10, 240)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    rgb = decode_image(buf.getvalue(), max_pixels=LIMIT)
    assert rgb.shape == (20, 30, 3) and rgb.mean() < 30


def test_heic_from_a_phone() -> None:
    heic = save(Image.fromarray(photo_like(64, 48)), "HEIF", quality=90)
    assert decode_image(heic, max_pixels=LIMIT).shape == (48, 64, 3)


def test_corrupt_pixel_data_fails_with_a_code() -> None:
    data = bytearray(jpeg_bytes(photo_like(200, 150)))
    data[600:4000] = b"\x00" * 3400
    data = data[: len(data) // 2]
    with pytest.raises(InvalidInput) as caught:
        decode_image(bytes(data), max_pixels=LIMIT)
    assert caught.value.code in ("image_truncated", "image_corrupt")


# -- the fast path for plain JPEGs (simplejpeg) must match Pillow's, pixel for pixel ------


def pillow_reference(data: bytes) -> np.ndarray:
    """What Pillow makes of a JPEG: upright (exif_transpose), in sRGB, 8-bit RGB."""
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    return np.asarray(to_srgb(image).convert("RGB"))


@pytest.fixture
def fast_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the JPEGs simplejpeg decoded for decode_image."""
    calls: list[int] = []
    real = decode.simplejpeg.decode_jpeg

    def counted(data: bytes, **options: object) -> np.ndarray:
        calls.append(len(data))
        return real(data, **options)

    monkeypatch.setattr(decode.simplejpeg, "decode_jpeg", counted)
    return calls


@pytest.mark.parametrize("orientation", range(1, 9))
def test_plain_jpeg_fast_path_equals_pillow_in_every_orientation(
    orientation: int, fast_calls: list[int]
) -> None:
    marked = photo_like(120, 80, seed=orientation)
    marked[:10, :30] = (255, 0, 0)  # an asymmetric mark, so every flip shows
    data = jpeg_bytes(marked, orientation=orientation)
    rgb = decode_image(data, max_pixels=LIMIT)
    assert fast_calls == [len(data)]
    np.testing.assert_array_equal(rgb, pillow_reference(data))
    assert rgb.flags.c_contiguous and rgb.dtype == np.uint8


def test_gray_and_srgb_tagged_jpegs_take_the_fast_path(fast_calls: list[int]) -> None:
    gray = save(Image.fromarray(photo_like(96, 64)[:, :, 0]), "JPEG", quality=90)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    tagged = save(Image.fromarray(photo_like(96, 64)), "JPEG", icc_profile=srgb)
    for data in (gray, tagged):
        np.testing.assert_array_equal(decode_image(data, max_pixels=LIMIT), pillow_reference(data))
    assert len(fast_calls) == 2


def test_display_p3_jpeg_is_converted_by_pillow_not_the_fast_path(fast_calls: list[int]) -> None:
    data = save(Image.fromarray(photo_like(96, 64)), "JPEG", icc_profile=display_p3_profile())
    rgb = decode_image(data, max_pixels=LIMIT)
    assert fast_calls == []
    np.testing.assert_array_equal(rgb, pillow_reference(data))
    assert not np.array_equal(rgb, np.asarray(Image.open(io.BytesIO(data))))  # colours moved


def test_a_jpeg_simplejpeg_refuses_still_decodes_or_fails_as_before(
    fast_calls: list[int],
) -> None:
    data = jpeg_bytes(photo_like(120, 80))
    scan = data.index(b"\xff\xda")
    # junk before a marker: libjpeg warns (simplejpeg refuses), Pillow decodes it
    junk = data[:scan] + b"\x00\x00" + data[scan:]
    np.testing.assert_array_equal(decode_image(junk, max_pixels=LIMIT), pillow_reference(junk))
    with pytest.raises(InvalidInput) as cut:  # cut short: the same error as ever
        decode_image(data[: len(data) * 2 // 3], max_pixels=LIMIT)
    assert cut.value.code == ErrorCode.IMAGE_TRUNCATED
    assert len(fast_calls) == 2  # both were tried fast first


@pytest.mark.parametrize(
    "options",
    [{"subsampling": 0}, {"subsampling": 1}, {"subsampling": 2}, {"progressive": True}],
    ids=["4:4:4", "4:2:2", "4:2:0", "progressive"],
)
def test_real_photo_jpegs_decode_alike_on_both_paths(
    options: dict[str, object], fixture_bytes: dict[str, bytes], fast_calls: list[int]
) -> None:
    photo = Image.open(io.BytesIO(fixture_bytes["chelsea.png"])).convert("RGB")
    data = save(photo, "JPEG", quality=92, **options)
    np.testing.assert_array_equal(decode_image(data, max_pixels=LIMIT), pillow_reference(data))
    assert fast_calls == [len(data)]
