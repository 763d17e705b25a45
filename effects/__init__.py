"""Placeholder registry with the cut-out only; the catalogue lands from the effects branch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


class EffectError(ValueError):
    code = "effect_error"

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class UnknownEffect(EffectError):
    code = "unknown_effect"


class InvalidParams(EffectError):
    code = "invalid_params"


@dataclass(frozen=True)
class EffectContext:
    original: np.ndarray | None = None
    background: np.ndarray | None = None


def names() -> list[str]:
    return ["color"]


def catalogue() -> list[dict[str, Any]]:
    return [{"name": "color", "summary": "the cut-out itself", "params": {}}]


def validate(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    if name not in names():
        raise UnknownEffect(f"unknown effect {name!r}; choose from {', '.join(names())}")
    if params:
        raise InvalidParams(f"{name} takes no parameter {next(iter(params))!r}")
    return {}


def plan(requested: Sequence[str]) -> list[list[int]]:
    return [[i] for i in range(len(requested))]


def run(chain: Sequence[tuple[str, dict[str, Any]]], rgba: np.ndarray, ctx: EffectContext):
    return rgba
