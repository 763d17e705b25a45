"""``cutout submit`` sends a photo above its threshold (8 MiB by default, under Cloud
Run's 32 MiB body cap) by direct upload, against ``cutout up``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.support.pipeline import Pipeline, cutout_command

pytestmark = pytest.mark.slow


def test_a_photo_over_8_mib_goes_by_direct_upload_and_finishes(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    photo = tmp_path / "big.png"
    Image.fromarray(rng.integers(0, 256, (1700, 1800, 3), dtype=np.uint8)).save(photo)
    assert photo.stat().st_size > 8 * 1024 * 1024  # noise does not compress
    args = ("--data-dir", str(pipeline.data), "submit", str(photo), "--url", pipeline.url,
            "--wait", "--effects", "color")  # fmt: skip
    done = subprocess.run(cutout_command(*args), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr + pipeline.log.read_text()
    job = json.loads(done.stdout.splitlines()[-1])
    assert job["state"] == "done", job
    assert (job["input"]["width"], job["input"]["height"]) == (1800, 1700)
    direct = list((pipeline.data / "blobs" / "uploads" / "direct").iterdir())
    assert len(direct) == 1, "the photo went by a direct upload, not in the POST body"
