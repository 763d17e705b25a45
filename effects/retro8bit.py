"""``retro8bit``: the cut-out as 8-bit game art.

The image is pixelated into square blocks that split in two, then in four, where there
is detail (edges, the subject's outline), so eyes and silhouettes stay readable while
fur and background stay chunky. Each block takes the nearest colour of a fixed palette,
measured in OKLab (a perceptual colour space), optionally with ordered (Bayer) dithering
of its lightness. Alpha becomes blocky too: a block is opaque when at least half covered.
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import cv2
import numpy as np
from pydantic import Field

from effects._image import area_average, check_rgba, full_pixels
from effects._oklab import lookup, palette_table
from effects._params import PERMILLE, Params, hex_to_rgb
from effects.context import EffectContext

#: 32 colours for pets: greys and whites, fur browns and gingers, blue-grey coats, nose
#: and tongue pinks, eye greens, ambers and blues, and a few for collars, toys and sky.
PETS = (
    "#0b0b0f", "#2a2a2e", "#4a4a50", "#6e6e73", "#9a9a9e", "#c4c4c6", "#e6e4df", "#ffffff",
    "#2b1a12", "#4a2c1a", "#6b3f22", "#8b5a2b", "#a8733c", "#c79356", "#dcb27a", "#ecd3a6",
    "#b5562a", "#d9803e", "#5d6470", "#8a8f99", "#e8a0a8", "#c46a78", "#f4c7c3", "#3f7a3a",
    "#8fb04a", "#d8b53a", "#6fa0c8", "#2f4f7a", "#b8322c", "#a9cfe8", "#7a4a8a", "#f2e36b",
)  # fmt: skip
PALETTES: dict[str, tuple[str, ...]] = {
    "pets": PETS,
    "pico8": (
        "#000000", "#1d2b53", "#7e2553", "#008751", "#ab5236", "#5f574f", "#c2c3c7", "#fff1e8",
        "#ff004d", "#ffa300", "#ffec27", "#00e436", "#29adff", "#83769c", "#ff77a8", "#ffccaa",
    ),
    "gameboy": ("#0f380f", "#306230", "#8bac0f", "#9bbc0f"),
}  # fmt: skip
PaletteName = Literal["pets", "pico8", "gameboy"]

_SPLIT = 0.12  # edge strength (Sobel, in [0, 1] luminance) that splits a block
_DITHER = 24.0  # Bayer offset amplitude, sRGB levels added to all three channels
_BAYER = (np.array([[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]]) + 0.5) / 16 - 0.5


class Retro8BitParams(Params):
    block: float = Field(10.0, ge=3.0, le=50.0, description=f"largest block in {PERMILLE}")
    palette: PaletteName = Field("pets", description="fixed palette")
    dither: bool = Field(True, description="ordered dithering between palette colours")


def apply(rgba: np.ndarray, params: Retro8BitParams, ctx: EffectContext) -> np.ndarray:
    check_rgba(rgba)
    h, w = rgba.shape[:2]
    # the full rendition's whole-pixel cell, at this rendition's scale (fractional below 1)
    full_fine = max(1, round(full_pixels(rgba.shape, params.block, ctx.full_shape) / 4))
    fine = full_fine * ctx.scale(rgba.shape)
    block = 4 * fine
    rows, cols = math.ceil(h / block) * 4, math.ceil(w / block) * 4
    out_w, out_h = round(cols * fine), round(rows * fine)
    padded = cv2.copyMakeBorder(rgba, 0, out_h - h, 0, out_w - w, cv2.BORDER_REPLICATE)
    cells = area_average(cv2.cvtColor(padded, cv2.COLOR_RGBA2mRGBA), cols, rows)
    cells = cells.astype(np.float32) / np.float32(255.0)
    weighted, coverage = cells[:, :, :3], cells[:, :, 3]
    level = _levels(weighted)
    palette, table = _palette(params.palette)
    index = np.zeros((rows, cols), dtype=np.uint8)
    opaque = np.zeros((rows, cols), dtype=bool)
    for lvl, size in enumerate((4, 2, 1)):  # block size in fine cells
        colour, cover = _pool(weighted, size), _pool(coverage, size)
        rgb = colour * (np.float32(255.0) / np.maximum(cover, np.float32(1e-6)))[..., None]
        if params.dither:
            rgb += (_DITHER * _bayer(cover.shape)).astype(np.float32)[..., None]
        chosen = level == lvl
        index[chosen] = _expand(lookup(table, rgb), size)[chosen]
        opaque[chosen] = _expand(cover >= 0.5, size)[chosen]
    small = np.dstack([palette[index], np.where(opaque, 255, 0).astype(np.uint8)])
    # Whole-pixel cells (the full rendition) are copied; cells of a fractional pitch (a
    # smaller rendition) get each pixel's share of the cells it covers: OpenCV's area
    # mode when enlarging, what drawing them finer and area-averaging would give.
    enlarge = cv2.INTER_NEAREST if fine == int(fine) else cv2.INTER_AREA
    big = cv2.resize(small, (out_w, out_h), interpolation=enlarge)
    return np.ascontiguousarray(big[:h, :w])


@functools.cache
def _palette(name: PaletteName) -> tuple[np.ndarray, np.ndarray]:
    """A palette's colours (K x 3 uint8) and its lookup table, built once per process:
    the table takes 15 ms of CPU, and its matrix products wake OpenBLAS's thread, which
    then spins for another 0.06-0.1 s (measured per display rendition, by thread)."""
    palette = np.array([hex_to_rgb(c) for c in PALETTES[name]], dtype=np.uint8)
    table = palette_table(palette)
    palette.setflags(write=False)
    table.setflags(write=False)
    return palette, table


def _levels(weighted: np.ndarray) -> np.ndarray:
    """Per fine cell: 0 where its 4x4 block is calm, 1 where the block splits but its 2x2
    quarter is calm, 2 where the quarter splits too. Detail is the Sobel gradient of the
    luminance over black, so the subject's outline counts as an edge."""
    luma = cv2.cvtColor(weighted, cv2.COLOR_RGB2GRAY)
    gx = cv2.Sobel(luma, cv2.CV_32F, 1, 0, ksize=3, scale=0.25, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.Sobel(luma, cv2.CV_32F, 0, 1, ksize=3, scale=0.25, borderType=cv2.BORDER_REPLICATE)
    edge = (cv2.magnitude(gx, gy) > _SPLIT).astype(np.uint8)
    split4 = _expand(_pool_max(edge, 4), 4)
    split2 = _expand(_pool_max(edge, 2), 2)
    return split4 + split4 * split2


def _pool(values: np.ndarray, size: int) -> np.ndarray:
    """Mean over sizexsize cells (both sides are multiples of ``size``, so exact)."""
    if size == 1:
        return values
    h, w = values.shape[:2]
    return cv2.resize(values, (w // size, h // size), interpolation=cv2.INTER_AREA)


def _pool_max(mask: np.ndarray, size: int) -> np.ndarray:
    r, c = mask.shape[0] // size, mask.shape[1] // size
    return mask.reshape(r, size, c, size).max(axis=(1, 3))


def _expand(values: np.ndarray, size: int) -> np.ndarray:
    return np.repeat(np.repeat(values, size, axis=0), size, axis=1)


def _bayer(shape: tuple[int, ...]) -> np.ndarray:
    reps = (math.ceil(shape[0] / 4), math.ceil(shape[1] / 4))
    return np.tile(_BAYER, reps)[: shape[0], : shape[1]]
