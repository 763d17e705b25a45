"""The input's displayable preview (worker/preview.py): a JPEG that fits a phone's screen,
never upscaled, with the photo's content."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from cutout.samples import photo_like
from worker.preview import PREVIEW_MAX_SIDE, encode_preview


def test_a_big_photo_is_shrunk_to_fit_and_keeps_its_look() -> None:
    rgb = photo_like(4032, 3024, seed=3)
    data, width, height = encode_preview(rgb)
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and image.size == (width, height) == (PREVIEW_MAX_SIDE, 768)
    small = np.asarray(image.resize((64, 48), Image.Resampling.BOX), dtype=np.float32)
    expected = np.asarray(Image.fromarray(rgb).resize((64, 48), Image.Resampling.BOX))
    assert np.abs(small - expected).mean() < 4


def test_a_small_photo_is_not_upscaled() -> None:
    data, width, height = encode_preview(photo_like(300, 200, seed=1))
    assert (width, height) == (300, 200) == Image.open(io.BytesIO(data)).size
