"""``cutout effects-sheet INPUT -o sheet.png``: every effect with its defaults, side by
side and labelled, so a person can judge the whole catalogue at a glance.

The cut-out comes from the worker's own path (decode, the configured segmenter, foreground
colours); without model weights that is the weights-free fallback, and the sheet says so.
"""

from __future__ import annotations

from pathlib import Path

import click
import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

import effects
from cutout.cli.serve import resolve_segmenter
from cutout.errors import InvalidInput
from cutout.job import ModelInfo
from cutout.settings import Settings
from effects import EffectContext
from worker.compose import compose_cutout
from worker.decode import decode_image
from worker.segmenters.base import build_segmenter

_COLUMNS = 4
_LABEL_H = 28
_GAP = 8
_CHECKER = 12


def cutout_of(path: Path, settings: Settings) -> tuple[np.ndarray, EffectContext, ModelInfo]:
    """Decode ``path`` and cut the subject out as the worker does: the RGBA cut-out, a
    context holding the original, and the model that segmented it."""
    try:
        rgb = decode_image(path.read_bytes(), max_pixels=settings.max_pixels)
    except (InvalidInput, OSError) as exc:
        raise click.ClickException(f"cannot read {path} as an image: {exc}") from exc
    segmenter = build_segmenter(settings)
    [alpha] = segmenter.segment([rgb])
    rgba = compose_cutout(
        rgb, alpha, estimate_foreground=settings.foreground, device=settings.device
    )
    return rgba, EffectContext(original=rgb), segmenter.info


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
@click.pass_obj
def command(settings: Settings | None, input_path: Path, output: Path, tile: int) -> None:
    """Render every effect with its defaults on INPUT, side by side and labelled."""
    settings = resolve_segmenter(settings or Settings.from_env())
    rgba, ctx, model = cutout_of(input_path, settings)
    note = f"segmented by {model.name}"
    if model.fallback:
        note += " (weights-free FALLBACK, not the real model)"
    sheet = render_sheet(rgba, ctx, tile=tile, note=note)
    sheet.save(output, format="PNG")
    click.echo(f"wrote {output} ({sheet.width}x{sheet.height}, {len(effects.names())} effects)")
