"""Pure image effects: RGBA uint8 in, RGBA uint8 out, typed parameters, one registry.

No I/O, no mutable globals, deterministic given a seed. The catalogue lives in
:mod:`effects.registry`; see ``effects/README.md`` for each effect's look and cost.
"""

from __future__ import annotations

from effects._image import area_average
from effects.context import EffectContext
from effects.errors import EffectError, InvalidParams, UnknownEffect
from effects.registry import (
    EFFECTS,
    Effect,
    Outcome,
    Stage,
    catalogue,
    get,
    names,
    plan,
    run,
    run_all,
    validate,
)

__all__ = [
    "EFFECTS",
    "Effect",
    "EffectContext",
    "EffectError",
    "InvalidParams",
    "Outcome",
    "Stage",
    "UnknownEffect",
    "area_average",
    "catalogue",
    "get",
    "names",
    "plan",
    "run",
    "run_all",
    "validate",
]
