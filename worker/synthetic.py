"""Photo-like test images made on the spot, so benchmarks and tests need no downloads.

Smooth lighting, a textured background and a furry-edged subject in the middle: enough
structure for a network's batch-norm statistics and for foreground estimation to matter.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def photo_like(height: int, width: int, seed: int = 0) -> np.ndarray:
    """An RGB uint8 HxWx3 image, the same for the same arguments."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    base = rng.uniform(60, 200, size=3).astype(np.float32)
    tint = rng.uniform(-40, 40, size=3).astype(np.float32)
    image = base + tint * (0.6 * y + 0.4 * x)[..., None]
    # background texture: low-frequency noise, upsampled
    coarse = rng.normal(0, 18, size=(max(2, height // 64), max(2, width // 64), 3))
    coarse_image = Image.fromarray(coarse.astype(np.float32)[..., 0])
    texture = np.asarray(coarse_image.resize((width, height), Image.Resampling.BICUBIC))
    image += texture[..., None]
    # the subject: an ellipse with a wavy, soft edge and its own colour
    cy, cx = 0.55 + rng.uniform(-0.05, 0.05), 0.5 + rng.uniform(-0.05, 0.05)
    radius = np.sqrt(((y - cy) / 0.32) ** 2 + ((x - cx) / 0.26) ** 2)
    angle = np.arctan2(y - cy, x - cx)
    edge = 1.0 + 0.06 * np.sin(angle * rng.integers(9, 15))
    inside = np.clip((edge - radius) * 12.0, 0.0, 1.0)[..., None]
    subject = rng.uniform(20, 235, size=3).astype(np.float32) + 0.5 * texture[..., None]
    image = image * (1 - inside) + subject * inside
    # fine detail (fur, grass, sensor grain): photos are not smooth, and a network
    # calibrated on smooth images saturates on real ones
    fine = rng.normal(0, 20, size=(max(2, height // 4), max(2, width // 4))).astype(np.float32)
    detail = np.asarray(Image.fromarray(fine).resize((width, height), Image.Resampling.BILINEAR))
    image += detail[..., None] + rng.normal(0, 6, size=(height, width, 1)).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def photo_jpeg(height: int, width: int, *, orientation: int = 6, seed: int = 0) -> bytes:
    """A JPEG (quality 90) of a photo-like image stored sideways, with the EXIF
    orientation tag that turns it upright, as phones write them. ``height`` and ``width``
    are the upright size."""
    upright = photo_like(height, width, seed)
    stored = Image.fromarray(upright)
    # the stored pixels are the upright image turned back by the tag's rotation
    undo = {
        3: Image.Transpose.ROTATE_180,
        6: Image.Transpose.ROTATE_90,
        8: Image.Transpose.ROTATE_270,
    }
    if orientation in undo:
        stored = stored.transpose(undo[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    stored.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()
