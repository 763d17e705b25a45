"""Golden images: each effect on chelsea.png (240 px wide) with the ellipse test alpha.

Regenerate after an intended change of look with
``UPDATE_GOLDENS=1 PYTHONPATH=. python -m pytest tests/test_effects_golden.py`` and look at
the PNGs in tests/golden/ before committing them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import effects
from tests.support.effects_inputs import cutout

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDENS") == "1"

#: (golden file stem, chain of (effect, params))
CASES: list[tuple[str, list[tuple[str, dict[str, object]]]]] = [
    ("color", [("color", {})]),
    ("blackwhite", [("blackwhite", {})]),
    ("popart", [("popart", {})]),
    ("popart-neon-6", [("popart", {"palette": "neon", "levels": 6})]),
    ("halftone", [("halftone", {})]),
    ("retro8bit", [("retro8bit", {})]),
    ("retro8bit-gameboy-nodither", [("retro8bit", {"palette": "gameboy", "dither": False})]),
    ("background", [("background", {"color": "#3366aa", "shadow": 0.6})]),
    ("background-blur", [("background", {"mode": "blur", "shadow": 0.5})]),
    ("crop", [("crop", {})]),
    ("crop-4x5-cover-160", [("crop", {"aspect": "4:5", "fit": "cover", "size": 160})]),
    (
        "chain-crop-background-blackwhite",
        [("crop", {"aspect": "1:1"}), ("background", {"mode": "blur"}), ("blackwhite", {})],
    ),
]

#: mean absolute difference (levels) and share of pixels off by more than 16 levels
MAX_MEAN_DIFF = 1.0
MAX_FAR_SHARE = 0.005


@pytest.mark.parametrize(("stem", "chain"), CASES, ids=[c[0] for c in CASES])
def test_matches_golden(stem: str, chain: list[tuple[str, dict[str, object]]]) -> None:
    rgba, ctx = cutout()
    steps = [(name, effects.validate(name, params)) for name, params in chain]
    out = effects.run(steps, rgba, ctx)
    path = GOLDEN / f"{stem}.png"
    if UPDATE:
        Image.fromarray(out, "RGBA").save(path, optimize=True)
    assert path.exists(), f"{path} is missing: regenerate with UPDATE_GOLDENS=1"
    golden = np.asarray(Image.open(path).convert("RGBA"))
    assert out.shape == golden.shape
    diff = np.abs(out.astype(np.int16) - golden.astype(np.int16))
    assert diff.mean() <= MAX_MEAN_DIFF, f"{stem}: mean difference {diff.mean():.2f}"
    far = (diff.max(axis=2) > 16).mean()
    assert far <= MAX_FAR_SHARE, f"{stem}: {far:.2%} of pixels differ by more than 16"


def test_every_effect_has_a_golden() -> None:
    covered = {name for _, chain in CASES for name, _ in chain}
    assert covered == set(effects.names())
