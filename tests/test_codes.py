"""The error-code catalogue is the one list of codes."""

from __future__ import annotations

import effects.errors
from cutout.codes import ErrorCode


def test_effects_codes_are_in_the_catalogue() -> None:
    classes = [effects.errors.EffectError, *effects.errors.EffectError.__subclasses__()]
    assert {cls.code for cls in classes} <= set(ErrorCode)
    assert len(classes) >= 3


def test_codes_are_unique_snake_case() -> None:
    values = [code.value for code in ErrorCode]
    assert len(values) == len(set(values))
    assert all(v.replace("_", "").isalpha() and v.islower() for v in values)
