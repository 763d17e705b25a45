"""Errors for effect requests a client got wrong.

Both subclass :class:`ValueError` so callers that only know "bad value" still catch them,
and both carry a stable ``code`` that ingest maps to a 4xx answer and jobs store.
"""

from __future__ import annotations


class EffectError(ValueError):
    """A request for an effect that cannot be honoured as asked."""

    code = "effect_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownEffect(EffectError):
    """The effect name is not in the catalogue; the message lists the valid names."""

    code = "unknown_effect"

    def __init__(self, name: str, valid: list[str]) -> None:
        super().__init__(f"unknown effect {name!r}; valid effects: {', '.join(valid)}")
        self.name = name


class InvalidParams(EffectError):
    """A parameter is unknown, of the wrong type or out of range; ``param`` names it."""

    code = "invalid_params"

    def __init__(self, effect: str, param: str, message: str) -> None:
        super().__init__(f"effect {effect!r}, parameter {param!r}: {message}")
        self.effect = effect
        self.param = param
