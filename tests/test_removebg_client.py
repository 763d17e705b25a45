"""A remove.bg client nobody here wrote — PyPI's ``removebg`` (pinned in
requirements.txt) — removes a background through ``cutout up``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from cutout.samples import jpeg_bytes, photo_like
from tests.support.pipeline import Pipeline

pytestmark = pytest.mark.slow

#: The client configures logging when constructed, so it runs in a process of its own;
#: its endpoint is a module-level variable, pointed at the local stack.
CLIENT = """
import sys
import removebg.removebg as module
module.API_ENDPOINT = sys.argv[1] + "/v1.0/removebg"
from removebg import RemoveBg
RemoveBg(sys.argv[2], sys.argv[3]).remove_background_from_img_file(sys.argv[4])
"""


def test_the_pypi_removebg_client_gets_a_png_from_cutout_up(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    photo = tmp_path / "cat.jpg"
    photo.write_bytes(jpeg_bytes(photo_like(800, 600)))
    token = (pipeline.data / "cli-key").read_text().strip()
    done = subprocess.run(
        [sys.executable, "-c", CLIENT, pipeline.url, token, str(tmp_path / "err.log"), str(photo)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr + pipeline.log.read_text()
    result = Image.open(tmp_path / "cat.jpg_no_bg.png")
    result.load()
    assert result.format == "PNG" and result.mode == "RGBA"
    assert result.width * result.height <= 250_000  # size=regular: remove.bg's preview
    alpha = result.getchannel("A")
    assert alpha.getextrema() == (0, 255)  # a cut-out: transparent and opaque parts
