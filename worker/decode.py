"""Turning an upload into the RGB pixels the model sees, whatever the phone sent.

EXIF orientation is applied (so results are upright and carry no orientation tag);
CMYK, 16-bit, palette, grayscale and transparent images all become 8-bit RGB.
Transparent pixels are composited on white, which is what a person sees in a viewer.
Colours are sRGB: a photo with an embedded ICC profile (iPhones shoot Display P3) is
converted from it (results carry no profile, and untagged pixels are read as sRGB, so
keeping P3 numbers would shift every colour); an sRGB profile is taken as it is.
"""

from __future__ import annotations

import io
import logging

import numpy as np
from PIL import Image, ImageCms, ImageOps

from cutout.codes import ErrorCode
from cutout.errors import InvalidInput
from cutout.imaging import open_image

log = logging.getLogger(__name__)

_HIGH_DEPTH_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I"}
_SRGB = ImageCms.createProfile("sRGB")
#: Modes whose ICC profile is converted, and the mode each becomes.
_PROFILED = {"RGB": "RGB", "RGBA": "RGBA", "CMYK": "RGB"}


def decode_image(data: bytes, *, max_pixels: int) -> np.ndarray:
    """Decode to an upright HxWx3 uint8 array; bad data raises :class:`InvalidInput`."""
    image = open_image(data, max_pixels=max_pixels)
    try:
        image.seek(0)  # first frame of a GIF/MPO/multi-page TIFF
        image = ImageOps.exif_transpose(image)
        return _to_rgb(to_srgb(image))
    except OSError as exc:
        code = (
            ErrorCode.IMAGE_TRUNCATED
            if "truncated" in str(exc).lower()
            else ErrorCode.IMAGE_CORRUPT
        )
        raise InvalidInput(f"the image cannot be decoded: {exc}", code=code) from exc
    except (SyntaxError, ValueError) as exc:
        raise InvalidInput(
            f"the image cannot be decoded: {exc}", code=ErrorCode.IMAGE_CORRUPT
        ) from exc


def _to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in _HIGH_DEPTH_MODES:
        wide = np.asarray(image, dtype=np.uint32)
        gray = (wide >> 8).astype(np.uint8) if wide.max(initial=0) > 255 else wide.astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if image.mode == "F":
        gray = np.clip(np.asarray(image), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if image.mode in ("RGB",):
        return np.asarray(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    return np.asarray(image.convert("RGB"))


def to_srgb(image: Image.Image) -> Image.Image:
    """``image`` converted from its embedded ICC profile to sRGB (relative colorimetric),
    without the profile; unchanged if it has none, has an sRGB one, or a profile that
    cannot be used (logged: the pixels are then read as sRGB, as before)."""
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in _PROFILED:
        return image
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if "srgb" in ImageCms.getProfileDescription(profile).lower():
            return image
        converted = ImageCms.profileToProfile(
            image,
            profile,
            _SRGB,
            renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
            outputMode=_PROFILED[image.mode],
        )
    except (ImageCms.PyCMSError, OSError, ValueError) as exc:
        log.warning("ignoring an unusable ICC profile: %s", exc)
        return image
    assert converted is not None
    converted.info.pop("icc_profile", None)
    return converted
