"""worker.webp_encoder: looks of one rendition with equal alpha compress it once, and the
file is the one a full encode gives, byte for byte."""

from __future__ import annotations

import io

import numpy as np
import pytest
import webp
from PIL import Image

import effects
from cutout.job import OutputFormat, OutputSpec
from tests.support.effects_inputs import cutout
from worker.encode import WEBP_ALPHA_QUALITY, encode
from worker.latency import ARTISTIC
from worker.webp_encoder import MAX_SIDE, AlphaChunks, _encode, encode_webp


def _lossy(pixels: np.ndarray, shared: AlphaChunks | None = None) -> bytes:
    return encode_webp(
        pixels, quality=80, method=0, alpha_quality=WEBP_ALPHA_QUALITY, shared=shared
    )


def _chunk_tags(data: bytes) -> list[bytes]:
    tags, offset = [], 12
    while offset < len(data):
        size = int.from_bytes(data[offset + 4 : offset + 8], "little")
        tags.append(data[offset : offset + 4])
        offset += 8 + size + (size & 1)
    return tags


@pytest.fixture(scope="module")
def looks() -> dict[str, np.ndarray]:
    """The cut-out and the four artistic looks of a real photo, at 640 px."""
    rgba, context = cutout(width=640)
    out = {"color": rgba}
    for name in ARTISTIC:
        out[name] = effects.run([(name, effects.validate(name, {}))], rgba, context)
    return out


def test_shared_alpha_gives_the_same_file_as_a_full_encode(looks: dict[str, np.ndarray]) -> None:
    shared = AlphaChunks()
    for name, image in looks.items():
        data = _lossy(image, shared)
        assert data == _lossy(image), name
        assert _chunk_tags(data) == [b"VP8X", b"ALPH", b"VP8 "], name
        decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))
        np.testing.assert_array_equal(decoded[..., 3] > 0, image[..., 3] > 0, err_msg=name)
    # color, blackwhite, popart and halftone keep the cut-out's alpha; retro8bit's is blocky
    assert len(shared) == 2


def test_through_encode_a_rendition_shares_only_equal_alphas(
    looks: dict[str, np.ndarray],
) -> None:
    spec = OutputSpec(format=OutputFormat.WEBP, quality=80)
    shared = AlphaChunks()
    for image in looks.values():
        assert encode(image, spec, shared=shared).data == encode(image, spec).data
    other = looks["color"].copy()
    other[0, 0, 3] ^= 1  # one alpha level off: must not reuse the cut-out's chunk
    assert encode(other, spec, shared=shared).data == encode(other, spec).data
    assert len(shared) == 3


def test_odd_and_even_alpha_chunks_are_spliced_with_riff_padding() -> None:
    """RIFF pads odd chunks to an even length: splicing must handle both parities."""
    rng = np.random.default_rng(7)
    parities = set()
    for _ in range(12):
        pixels = rng.integers(0, 256, (24, 40, 4), dtype=np.uint8)
        pixels[..., 3] = np.where(pixels[..., 3] > 128, 255, 0)
        shared = AlphaChunks()
        first = _lossy(pixels, shared)
        again = pixels.copy()
        again[..., :3] = 255 - again[..., :3]  # other colours, the same alpha
        assert _lossy(again, shared) == _lossy(again)
        alph = first.index(b"ALPH")
        parities.add(int.from_bytes(first[alph + 4 : alph + 8], "little") % 2)
    assert parities == {0, 1}


def test_an_opaque_image_keeps_no_chunk() -> None:
    rgba, _ = cutout()
    rgba = rgba.copy()
    rgba[..., 3] = 255
    shared = AlphaChunks()
    data = _lossy(rgba, shared)
    assert len(shared) == 0 and b"ALPH" not in _chunk_tags(data)
    assert Image.open(io.BytesIO(data)).size == (240, 160)


def test_wider_than_webp_allows_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=f"at most {MAX_SIDE} px"):
        _lossy(np.zeros((2, MAX_SIDE + 1, 4), np.uint8))


def test_a_refusal_by_libwebp_is_a_value_error_saying_so() -> None:
    config = webp.WebPConfig.new(quality=80, method=0)
    config.ptr.method = 9  # past libwebp's range: WebPEncode refuses the configuration
    with pytest.raises(ValueError, match="libwebp refused to encode the image"):
        _encode(np.zeros((8, 8, 4), np.uint8), config)
