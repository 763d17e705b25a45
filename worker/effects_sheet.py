"""``cutout effects-sheet INPUT -o sheet.png``: every effect with its defaults, side by
side and labelled, so a person can judge the whole catalogue at a glance.

Segmentation is behind :func:`cutout_of`; until the worker's segmenter is wired in it is a
placeholder (OpenCV GrabCut seeded with a centred rectangle), which the sheet says.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

import effects
from cutout.errors import InvalidInput
from cutout.settings import Settings
from effects import EffectContext
from worker.decode import decode_image

Segment = Callable[[Path], tuple[np.ndarray, EffectContext]]

_COLUMNS = 4
_LABEL_H = 28
_GAP = 8
_CHECKER = 12
_GRABCUT_SIDE = 320
_PLACEHOLDER_NOTE = "placeholder segmentation (GrabCut)"


def cutout_of(path: Path) -> tuple[np.ndarray, EffectContext]:
    """Decode ``path`` like the worker does (orientation applied, any mode to RGB) and cut
    the subject out: the RGBA cut-out and a context holding the original. Placeholder:
    GrabCut on a reduced copy, seeded with a centred rectangle, deterministic."""
    try:
        rgb = decode_image(path.read_bytes(), max_pixels=Settings().max_pixels)
    except (InvalidInput, OSError) as exc:
        raise click.ClickException(f"cannot read {path} as an image: {exc}") from exc
    h, w = rgb.shape[:2]
    scale = min(1.0, _GRABCUT_SIDE / max(h, w))
    small = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))))
    sh, sw = small.shape[:2]
    mask = np.zeros((sh, sw), dtype=np.uint8)
    rect = (sw // 10, sh // 20, max(1, sw * 8 // 10), max(1, sh * 9 // 10))
    models = (np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64))
    cv2.setRNGSeed(0)
    cv2.grabCut(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), mask, rect, *models, 5,
                cv2.GC_INIT_WITH_RECT)  # fmt: skip
    fg = np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)
    soft = cv2.GaussianBlur(fg, (0, 0), 1.0)
    alpha = cv2.resize(soft, (w, h), interpolation=cv2.INTER_LINEAR)
    alpha8 = np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return np.dstack([rgb, alpha8]), EffectContext(original=rgb)


def render_sheet(
    rgba: np.ndarray, ctx: EffectContext, *, tile: int = 360, note: str = ""
) -> Image.Image:
    """A labelled grid: the original photo, then every catalogued effect with default parameters,
    each on a checkerboard so transparency shows. Effects run on a copy scaled to ``tile``
    (their sizes are relative to the image, so the look is that of the full image)."""
    scale = min(1.0, tile / max(rgba.shape[:2]))
    preview, preview_ctx = _scaled(rgba, ctx, scale)
    first = (
        preview
        if preview_ctx.original is None
        else cv2.cvtColor(preview_ctx.original, cv2.COLOR_RGB2RGBA)
    )
    tiles = [("original", first)]
    for name in effects.names():
        tiles.append(
            (name, effects.run([(name, effects.validate(name, {}))], preview, preview_ctx))
        )
    rows = -(-len(tiles) // _COLUMNS)
    cell_w, cell_h = tile + _GAP, tile + _LABEL_H + _GAP
    sheet = Image.new("RGB", (_COLUMNS * cell_w + _GAP, rows * cell_h + _GAP + _LABEL_H), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=18)
    for i, (label, image) in enumerate(tiles):
        x = _GAP + (i % _COLUMNS) * cell_w
        y = _GAP + (i // _COLUMNS) * cell_h
        sheet.paste(_on_checkerboard(image, tile), (x, y))
        draw.text((x, y + tile + 4), label, fill="black", font=font)
    if note:
        draw.text((_GAP, sheet.height - _LABEL_H + 4), note, fill="gray", font=font)
    return sheet


def _scaled(rgba: np.ndarray, ctx: EffectContext, scale: float) -> tuple[np.ndarray, EffectContext]:
    if scale >= 1.0:
        return rgba, ctx
    h, w = rgba.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.cvtColor(
        cv2.resize(cv2.cvtColor(rgba, cv2.COLOR_RGBA2mRGBA), size, interpolation=cv2.INTER_AREA),
        cv2.COLOR_mRGBA2RGBA,
    )
    original = ctx.original
    if original is not None:
        original = cv2.resize(original, size, interpolation=cv2.INTER_AREA)
    return small, EffectContext(original=original, background=ctx.background)


def _on_checkerboard(rgba: np.ndarray, tile: int) -> Image.Image:
    """``rgba`` fitted into a tile x tile square over a gray checkerboard."""
    image = Image.fromarray(rgba, "RGBA")
    image.thumbnail((tile, tile), Image.Resampling.LANCZOS)
    yy, xx = np.mgrid[0:tile, 0:tile]
    board = np.where(((yy // _CHECKER + xx // _CHECKER) % 2) == 0, 205, 240).astype(np.uint8)
    canvas = Image.fromarray(board, "L").convert("RGBA")
    canvas.alpha_composite(image, ((tile - image.width) // 2, (tile - image.height) // 2))
    return canvas.convert("RGB")


def build_command(segment: Segment, note: str = "") -> click.Command:
    """The click command, with ``segment`` turning INPUT into a cut-out and its context."""

    @click.command("effects-sheet")
    @click.argument(
        "input_path", metavar="INPUT", type=click.Path(exists=True, dir_okay=False, path_type=Path)
    )
    @click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        default=Path("sheet.png"),
        show_default=True,
        help="PNG to write",
    )
    @click.option(
        "--tile",
        type=click.IntRange(64, 2048),
        default=360,
        show_default=True,
        help="side of each square tile, px",
    )
    def command(input_path: Path, output: Path, tile: int) -> None:
        """Render every effect with its defaults on INPUT, side by side and labelled."""
        rgba, ctx = segment(input_path)
        sheet = render_sheet(rgba, ctx, tile=tile, note=note)
        sheet.save(output, format="PNG")
        click.echo(f"wrote {output} ({sheet.width}x{sheet.height}, {len(effects.names())} effects)")

    return command


command = build_command(cutout_of, note=_PLACEHOLDER_NOTE)
