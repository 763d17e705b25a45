"""worker.effects_sheet: the worker's cut-out, the sheet, and the click command."""

from __future__ import annotations

import tomllib
from importlib import import_module
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import effects
from cutout.settings import Settings
from tests.support.effects_inputs import FIXTURES, cutout
from tests.support.segmenters import EllipseSegmenter
from worker.effects_sheet import command, cutout_of, render_sheet
from worker.segmenters import base

FALLBACK = Settings(segmenter="grabcut", foreground=False)


def test_cutout_of_finds_a_subject_in_the_middle() -> None:
    rgba, ctx, model = cutout_of(FIXTURES / "chelsea.png", FALLBACK)
    assert model.fallback is True
    assert rgba.shape == (300, 451, 4) and rgba.dtype == np.uint8
    assert ctx.original is not None
    np.testing.assert_array_equal(ctx.original, rgba[:, :, :3])
    alpha = rgba[:, :, 3]
    assert alpha[150, 225] > 200 and alpha[0, 0] < 50
    assert 0.2 < (alpha > 127).mean() < 0.95
    again = cutout_of(FIXTURES / "chelsea.png", FALLBACK)[0]
    np.testing.assert_array_equal(again, rgba)  # deterministic


def test_render_sheet_shows_every_effect() -> None:
    rgba, ctx = cutout()
    sheet = render_sheet(rgba, ctx, tile=100)
    tiles = 1 + len(effects.names())
    rows = -(-tiles // 4)
    assert sheet.mode == "RGB"
    assert sheet.width == 4 * 108 + 8
    assert sheet.height == rows * (100 + 28 + 8) + 8 + 28
    pixels = np.asarray(sheet)
    for i in range(tiles):  # every tile has content, not just the checkerboard
        x, y = 8 + (i % 4) * 108, 8 + (i // 4) * 136
        assert len(np.unique(pixels[y : y + 100, x : x + 100].reshape(-1, 3), axis=0)) > 8


def test_command_writes_a_png_and_says_it_used_the_fallback(tmp_path: Path) -> None:
    out = tmp_path / "sheet.png"
    result = CliRunner().invoke(
        command, [str(FIXTURES / "chelsea.png"), "-o", str(out), "--tile", "96"]
    )
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output
    assert "NO MODEL WEIGHTS FOUND" in result.output  # no weights on a test machine
    assert Image.open(out).format == "PNG"


def test_command_uses_the_configured_segmenter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(base.SEGMENTERS, "test-ellipse", EllipseSegmenter)
    EllipseSegmenter.calls = []
    out = tmp_path / "sheet.png"
    result = CliRunner().invoke(
        command,
        [str(FIXTURES / "coffee.png"), "-o", str(out), "--tile", "64"],
        obj=Settings(segmenter="test-ellipse"),
    )
    assert result.exit_code == 0, result.output
    assert EllipseSegmenter.calls == [1] and out.exists()


def test_command_rejects_a_file_that_is_not_an_image(tmp_path: Path) -> None:
    bad = tmp_path / "notes.png"
    bad.write_text("not a picture")
    result = CliRunner().invoke(command, [str(bad), "-o", str(tmp_path / "s.png")])
    assert result.exit_code != 0
    assert "cannot read" in result.output and "notes.png" in result.output


def test_commands_are_registered_as_plugins() -> None:
    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    groups = project["project"]["entry-points"]
    targets = [groups["cutout.commands"]["effects-sheet"], groups["cutout.bench"]["effects"]]
    for target in targets:
        module, attr = target.split(":")
        assert callable(getattr(import_module(module), attr))
