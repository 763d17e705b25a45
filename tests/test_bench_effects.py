"""worker.bench_effects: the benchmark runs end to end (small input) and ends in JSON."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

import effects
from worker.bench_effects import ARTISTIC, command, synthetic_cutout


def test_synthetic_cutout_is_deterministic_and_photo_like() -> None:
    a = synthetic_cutout(320, 240)
    assert a.shape == (240, 320, 4) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, synthetic_cutout(320, 240))
    alpha = a[:, :, 3]
    assert alpha.min() == 0 and alpha.max() == 255 and 0.2 < (alpha > 127).mean() < 0.9
    assert a[:, :, :3].std() > 10


def test_bench_ends_with_one_json_line() -> None:
    result = CliRunner().invoke(command, ["--width", "320", "--height", "240", "--repeat", "1"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert set(report["effects"]) == set(effects.names())
    assert all(s >= 0 for s in report["effects"].values())
    assert report["all_s"] > 0 and report["megapixels"] == 0.08
    assert set(ARTISTIC) <= set(effects.names())
