"""Building blocks for the effects' parameter models.

Every model forbids unknown parameters and is frozen; its JSON form (``model_dump(mode=
"json")``) is the canonical form that goes into cache keys. Lengths are given in
thousandths of the image's long side (permille), so a small preview and the full-size
result have the same look.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

PERMILLE = "thousandths of the image's long side"

_HEX = re.compile(r"#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})")


class Params(BaseModel):
    """Base of every effect's parameters: unknown names are errors, values immutable, and
    types strict (``true`` is not 1 and ``"2"`` is not a number; an integer is accepted
    where a number is expected)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _canonical_hex(value: str) -> str:
    match = _HEX.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"{value!r} is not a colour; use #rrggbb or #rgb")
    digits = match.group(1).lower()
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return "#" + digits


#: A colour as ``#rrggbb`` (``#rgb`` and a missing ``#`` are accepted and normalised).
HexColor = Annotated[
    str,
    AfterValidator(_canonical_hex),
    Field(json_schema_extra={"format": "color", "pattern": "^#?([0-9a-fA-F]{3}){1,2}$"}),
]

#: A random seed: equal seeds give identical output.
Seed = Annotated[int, Field(ge=0, le=2**31 - 1, description="random seed")]


def hex_to_rgb(color: str) -> tuple[int, int, int]:
    """``#rrggbb`` → (r, g, b)."""
    digits = _canonical_hex(color)[1:]
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)
