"""A job in which one effect fails for real and the other succeeds, for both end-to-end
suites: a panorama wider than WebP allows (16383 px), asked for as WebP with ``color``
(full size: cannot be encoded) and ``crop`` scaled to 512 px (can)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cutout.samples import jpeg_bytes, photo_like

#: Wider than WebP's limit, and only 5 MP.
PANORAMA = (16400, 320)
FIELDS = {"effects": "color,crop", "format": "webp", "params": '{"crop": {"size": 512}}'}


def panorama_jpeg() -> bytes:
    return jpeg_bytes(photo_like(*PANORAMA))


def assert_one_effect_failed(job: Mapping[str, Any]) -> None:
    """The job (as ``GET /v1/jobs/{id}`` shows it) is ``done``: ``crop`` has its result,
    ``color`` its error, and the job no error of its own."""
    assert job["state"] == "done", job
    assert list(job["results"]) == ["crop"], job
    crop = job["results"]["crop"]
    assert max(crop["width"], crop["height"]) == 512
    assert list(job["effect_errors"]) == ["color"]
    error = job["effect_errors"]["color"]
    assert error["code"] == "effect_failed" and "WebP" in error["message"], error
    assert job["error"] is None
