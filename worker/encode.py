"""Placeholder until the effects branch lands the encoders."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from cutout.job import OutputFormat, OutputSpec


@dataclass(frozen=True)
class Encoded:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int


def encode(rgba: np.ndarray, output: OutputSpec) -> Encoded:
    image = Image.fromarray(rgba, "RGBA")
    buf = io.BytesIO()
    if output.format is OutputFormat.JPEG:
        image.convert("RGB").save(buf, "JPEG", quality=90)
    elif output.format is OutputFormat.WEBP:
        image.save(buf, "WEBP", lossless=True, method=0)
    else:
        image.save(buf, "PNG", compress_level=1)
    fmt = output.format
    return Encoded(buf.getvalue(), f"image/{fmt.value}", fmt.extension, image.width, image.height)
