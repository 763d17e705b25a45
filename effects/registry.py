"""The one catalogue of effects: what the API lists, what ingest validates against, what
the worker runs and the CLI renders. Nothing lists effect names anywhere else.

How effects compose. Every effect has a stage: ``frame`` (``crop``: decides what the
picture shows), ``backdrop`` (``background``: fills what is behind the subject) or
``look`` (``color``, ``blackwhite``, ``popart``, ``halftone``, ``retro8bit``: how it is
drawn). An effect's result is computed from the cut-out after the latest effect of each
earlier stage listed before it in the job, applied frame → backdrop → look. So
``["crop", "background", "blackwhite"]`` gives a cropped cut-out, a cropped cut-out on its
background, and that in black and white; ``["blackwhite", "crop"]`` gives a black-and-white
cut-out and a cropped colour one. Looks never feed each other.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import numpy as np
from pydantic import ValidationError

from effects import background, blackwhite, color, crop, halftone, popart, retro8bit
from effects._params import Params
from effects.context import EffectContext
from effects.errors import InvalidParams, UnknownEffect


class Stage(StrEnum):
    FRAME = "frame"
    BACKDROP = "backdrop"
    LOOK = "look"

    @property
    def rank(self) -> int:
        return list(Stage).index(self)

    @property
    def composes(self) -> str:
        return _COMPOSES[self]


_COMPOSES = {
    Stage.FRAME: "feeds the backdrop and look effects listed after it",
    Stage.BACKDROP: "feeds the look effects listed after it; takes the frame listed before it",
    Stage.LOOK: "ends a chain; takes the frame and backdrop listed before it",
}

Apply = Callable[[np.ndarray, Any, EffectContext], np.ndarray]
Reframe = Callable[[np.ndarray, Any, EffectContext], EffectContext]


@dataclass(frozen=True)
class Effect:
    """One catalogue entry. ``reframe`` (frame effects only) maps the context to the new
    geometry so later effects see a matching ``ctx.original``."""

    name: str
    summary: str
    stage: Stage
    params: type[Params]
    apply: Apply
    reframe: Reframe | None = None


_EFFECTS = (
    Effect("color", "the cut-out itself", Stage.LOOK, color.ColorParams, color.apply),
    Effect(
        "blackwhite",
        "film black and white: S-curve, midtone sharpening, halation, shadow grain",
        Stage.LOOK,
        blackwhite.BlackWhiteParams,
        blackwhite.apply,
    ),
    Effect(
        "popart",
        "screen-print poster: luminance bands in a bold palette over posterised colour",
        Stage.LOOK,
        popart.PopArtParams,
        popart.apply,
    ),
    Effect(
        "halftone",
        "black dots on white paper by error diffusion on a grid, with edge boost",
        Stage.LOOK,
        halftone.HalftoneParams,
        halftone.apply,
    ),
    Effect(
        "retro8bit",
        "8-bit game art: blocks that shrink at edges, a 32-colour pet palette, dithering",
        Stage.LOOK,
        retro8bit.Retro8BitParams,
        retro8bit.apply,
    ),
    Effect(
        "background",
        "a new background: solid colour, the blurred original or a second image; drop shadow",
        Stage.BACKDROP,
        background.BackgroundParams,
        background.apply,
    ),
    Effect(
        "crop",
        "crop to the subject with a margin, an optional aspect ratio and output size",
        Stage.FRAME,
        crop.CropParams,
        crop.apply,
        crop.reframe,
    ),
)
EFFECTS: Mapping[str, Effect] = MappingProxyType({e.name: e for e in _EFFECTS})


def names() -> list[str]:
    return list(EFFECTS)


def get(name: str) -> Effect:
    """The catalogue entry; :class:`UnknownEffect` (listing the valid names) if none."""
    try:
        return EFFECTS[name]
    except (KeyError, TypeError):
        raise UnknownEffect(str(name), names()) from None


def catalogue() -> list[dict[str, Any]]:
    """JSON-ready: name, summary, stage, how it composes, and the params' JSON schema."""
    return [
        {
            "name": e.name,
            "summary": e.summary,
            "stage": e.stage.value,
            "composes": e.stage.composes,
            "params": e.params.model_json_schema(),
        }
        for e in _EFFECTS
    ]


def validate(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical parameters: defaults filled in, types and spellings normalised, JSON-ready;
    equal requests give equal dicts (they go into cache keys). Raises
    :class:`UnknownEffect` or :class:`InvalidParams` naming the parameter and its range."""
    effect = get(name)
    if not isinstance(params, Mapping):
        raise InvalidParams(name, "params", f"must be an object, got {type(params).__name__}")
    try:
        model = effect.params.model_validate(dict(params))
    except ValidationError as exc:
        raise _invalid(effect, exc) from None
    return model.model_dump(mode="json")


def plan(effect_names: Sequence[str]) -> list[list[int]]:
    """For a job's ordered effects, the indices each result is computed from, in the order
    they apply (see the module docstring), ending with the effect itself:
    ``["crop", "blackwhite", "color"]`` → ``[[0], [0, 1], [0, 2]]``."""
    stages = [get(n).stage for n in effect_names]
    chains = []
    for i, stage in enumerate(stages):
        latest: dict[Stage, int] = {}
        for j in range(i):
            if stages[j].rank < stage.rank:
                latest[stages[j]] = j
        chains.append([latest[s] for s in sorted(latest, key=lambda s: s.rank)] + [i])
    return chains


def run(
    chain: Sequence[tuple[str, Mapping[str, Any]]], rgba: np.ndarray, ctx: EffectContext
) -> np.ndarray:
    """Apply ``(name, params)`` steps in order (a chain from :func:`plan`); params are
    validated again, so a stale or hand-written job fails with :class:`InvalidParams`."""
    for name, params in chain:
        rgba, ctx = _step(name, params, rgba, ctx)
    return rgba


@dataclass(frozen=True)
class Outcome:
    """One effect of a job: its image, or the exception that stopped it, and the seconds
    its own step took (shared steps before it are not counted)."""

    index: int
    image: np.ndarray | None
    error: Exception | None
    seconds: float


def run_all(
    effects: Sequence[tuple[str, Mapping[str, Any]]],
    rgba: np.ndarray,
    ctx: EffectContext,
    *,
    threads: int = 1,
) -> Iterator[Outcome]:
    """Every effect of a job, each yielded as soon as it is ready. Shared steps (a crop
    that three looks start from) run once. With ``threads`` > 1 independent effects run
    concurrently (OpenCV and numpy release the GIL). A failing effect yields its
    error, and so does every effect built on it; the others are unaffected."""
    steps = [(name, params) for name, params in effects]
    chains = plan([name for name, _ in steps])
    results: dict[tuple[int, ...], Future[_Timed]] = {}
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:

        def prefix(key: tuple[int, ...]) -> Future[_Timed]:
            if key not in results:
                if not key:
                    done: Future[_Timed] = Future()
                    done.set_result((rgba, ctx, 0.0))
                    results[key] = done
                else:
                    before = prefix(key[:-1])
                    name, params = steps[key[-1]]
                    results[key] = pool.submit(_after, before, name, params)
            return results[key]

        own = {prefix(tuple(chain)): i for i, chain in enumerate(chains)}
        for future in as_completed(own):
            error = future.exception()
            if error is None:
                image, _, seconds = future.result()
                yield Outcome(own[future], image, None, seconds)
            elif isinstance(error, Exception):
                yield Outcome(own[future], None, error, 0.0)
            else:  # KeyboardInterrupt and the like are not an effect's failure
                raise error


_Timed = tuple[np.ndarray, EffectContext, float]


def _after(before: Future[_Timed], name: str, params: Mapping[str, Any]) -> _Timed:
    rgba, ctx, _ = before.result()
    start = time.perf_counter()
    rgba, ctx = _step(name, params, rgba, ctx)
    return rgba, ctx, time.perf_counter() - start


def _step(
    name: str, params: Mapping[str, Any], rgba: np.ndarray, ctx: EffectContext
) -> tuple[np.ndarray, EffectContext]:
    effect = get(name)
    try:
        model = effect.params.model_validate(dict(params))
    except ValidationError as exc:
        raise _invalid(effect, exc) from None
    next_ctx = effect.reframe(rgba, model, ctx) if effect.reframe else ctx
    return effect.apply(rgba, model, ctx), next_ctx


def _invalid(effect: Effect, exc: ValidationError) -> InvalidParams:
    """The first problem, as :class:`InvalidParams` naming the parameter and what it allows."""
    error = exc.errors(include_url=False)[0]
    param = str(error["loc"][0]) if error["loc"] else "params"
    schema = effect.params.model_json_schema().get("properties", {})
    if error["type"] == "extra_forbidden":
        known = ", ".join(schema) or "none"
        return InvalidParams(effect.name, param, f"unknown parameter; known parameters: {known}")
    if error["type"] == "value_error":  # our own validators' messages say it all
        return InvalidParams(effect.name, param, str(error["msg"]).removeprefix("Value error, "))
    got = repr(error.get("input"))[:80]
    allowed = _allowed(schema.get(param, {}))
    return InvalidParams(effect.name, param, f"{error['msg']} (got {got}); allowed: {allowed}")


def _allowed(prop: Mapping[str, Any]) -> str:
    """A short human description of what a JSON schema property accepts."""
    if "anyOf" in prop:
        return " or ".join(_allowed(p) for p in prop["anyOf"])
    if "enum" in prop:
        return "one of " + ", ".join(repr(v) for v in prop["enum"])
    kind = prop.get("type", "value")
    if kind == "null":
        return "null"
    if kind == "boolean":
        return "true or false"
    if kind in ("number", "integer"):
        lo, hi = prop.get("minimum"), prop.get("maximum")
        return f"{kind} from {lo} to {hi}"
    if kind == "string" and prop.get("format") == "color":
        return "a colour #rrggbb"
    if kind == "string" and "pattern" in prop:
        return f"a string like {prop['pattern']}"
    if kind == "string" and "maxLength" in prop:
        return f"a string of {prop.get('minLength', 0)} to {prop['maxLength']} characters"
    return kind
