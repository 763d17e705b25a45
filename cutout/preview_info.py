"""The job's record of its input preview (written by worker/preview.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Preview(BaseModel):
    """A small JPEG of the input every browser shows (HEIC: only Safari)."""

    model_config = ConfigDict(extra="forbid")

    key: str
    width: int
    height: int
