"""Deterministic photo-like test images for benchmarks and tests.

Real photos compress like smooth regions plus fine texture, not like noise; these
images mimic that (a lit backdrop, a textured subject, sensor noise) so JPEG sizes and
decode times resemble a phone photo's.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

#: EXIF Orientation tag; 6 means "rotate 90° clockwise to display".
ORIENTATION_TAG = 0x0112


def photo_like(width: int, height: int, *, seed: int = 0, noise: float = 6.0) -> np.ndarray:
    """An HxWx3 uint8 image: gradient backdrop, a furry ellipse subject, sensor noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = x / max(width - 1, 1), y / max(height - 1, 1)
    backdrop = np.stack([150 + 60 * u, 140 + 40 * v, 120 + 50 * (1 - u)], axis=-1)
    inside = ((u - 0.5) / 0.28) ** 2 + ((v - 0.55) / 0.36) ** 2 < 1.0
    stripes = 40 * np.sin(x * 0.15 + 3 * np.sin(y * 0.01))[..., None]
    subject = np.array([120, 80, 45], np.float32) + stripes
    image = np.where(inside[..., None], subject, backdrop)
    image += rng.normal(0, noise, size=image.shape).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def jpeg_bytes(image: np.ndarray, *, quality: int = 90, orientation: int | None = None) -> bytes:
    """Encode as JPEG, optionally with an EXIF orientation tag (as phones write)."""
    pil = Image.fromarray(image)
    exif = Image.Exif()
    if orientation is not None:
        exif[ORIENTATION_TAG] = orientation
    buf = io.BytesIO()
    pil.save(buf, "JPEG", quality=quality, exif=exif.tobytes())
    return buf.getvalue()


def photo_jpeg_near(target_bytes: int, *, seed: int = 0) -> bytes:
    """A photo-like JPEG whose size is close to ``target_bytes`` (the size is tuned by
    scaling the resolution, keeping a 4:3 phone aspect)."""
    scale = 1.0
    for _ in range(6):
        width, height = int(1600 * scale), int(1200 * scale)
        data = jpeg_bytes(photo_like(width, height, seed=seed), quality=85)
        scale *= (target_bytes / len(data)) ** 0.5
    return data
