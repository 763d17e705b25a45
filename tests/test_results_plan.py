"""A result the worker stores is found by ingest's cache lookup: the one results plan
(cutout/results.py) holds for each effect, every ordered pair of effects, each output
format and quality bound, and each effect parameter at its bounds (read from the effects
registry's JSON schemas, so a new effect or parameter is covered without editing here).

Each case runs the real path on real local adapters, with a fresh store: ingest submits
a small photo (a miss, so the job is queued), the real :class:`Renderer` renders it
with an ellipse alpha (no model) and stores every result, then ingest answers the same
submission from the cache with exactly the results the worker recorded.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

import effects
from cutout import results
from cutout.backends import Backends, open_backends
from cutout.job import (
    ClientInfo,
    EffectRequest,
    EffectResult,
    InputInfo,
    Job,
    JobState,
    OutputFormat,
    OutputSpec,
    Priority,
)
from cutout.local import LocalBlobStore
from cutout.samples import jpeg_bytes, photo_like
from cutout.settings import Settings
from ingest.service import Accepted, IngestService, Submission
from tests.support.render import render

PHOTO = jpeg_bytes(photo_like(24, 16))
BACKDROP = jpeg_bytes(photo_like(20, 20, seed=1))

#: Parameters whose schema has no bounds to test, and why.
NO_BOUNDS = {
    ("crop", "aspect"): "a W:H pattern: no bounds in the schema",
    ("background", "color"): "a colour pattern: no bounds in the schema",
    ("background", "image"): "set by ingest from a 'background' upload: mode=image covers it",
}


@dataclass(frozen=True)
class Case:
    effects: tuple[tuple[str, dict[str, Any]], ...]
    output: OutputSpec = field(default_factory=OutputSpec)

    @property
    def id(self) -> str:
        steps = "+".join(f"{n}{p}" if p else n for n, p in self.effects)
        spec = self.output.model_dump(exclude_none=True)
        return f"{steps}|{'-'.join(str(v) for v in spec.values())}"


def bounds(schema: dict[str, Any]) -> list[Any]:
    """The edge values of one parameter's JSON schema: minimum and maximum, every enum
    value, both booleans, and ``None`` where null is allowed."""
    if "anyOf" in schema:
        return [v for branch in schema["anyOf"] for v in bounds(branch)]
    if schema.get("type") == "null":
        return [None]
    if schema.get("type") == "boolean":
        return [False, True]
    if "enum" in schema:
        return list(schema["enum"])
    return [schema[k] for k in ("minimum", "maximum") if k in schema]


def parameter_cases() -> Iterator[Case]:
    for entry in effects.catalogue():
        for param, schema in entry["params"]["properties"].items():
            values = bounds(schema)
            assert values or (entry["name"], param) in NO_BOUNDS, (
                f"{entry['name']}.{param} has no bounds to test: name it in NO_BOUNDS"
            )
            for value in values:
                if (entry["name"], param) not in NO_BOUNDS:
                    yield Case(((entry["name"], {param: value}),))


def output_cases() -> Iterator[Case]:
    quality = OutputSpec.model_json_schema()["properties"]["quality"]
    for fmt in OutputFormat:
        yield Case((("color", {}),), OutputSpec(format=fmt))
        for value in bounds(quality):
            try:
                spec = OutputSpec(format=fmt, quality=value)
            except ValueError:
                continue  # this format has no quality
            yield Case((("color", {}),), spec)


def all_cases() -> list[Case]:
    names = effects.names()
    cases = [Case(((name, {}),)) for name in names]
    cases += [Case(((a, {}), (b, {}))) for a, b in itertools.permutations(names, 2)]
    cases += [*output_cases(), *parameter_cases()]
    return list({case.id: case for case in cases}.values())  # e.g. png is also the default


CASES = all_cases()


def test_the_cases_cover_what_they_claim() -> None:
    """The generated cases are not vacuous: every ordered pair, both quality bounds of
    webp and jpeg, and a case per bound of each parameter of each effect."""
    names = effects.names()
    assert sum(len(c.effects) == 2 for c in CASES) == len(names) * (len(names) - 1)
    qualities = {(c.output.format, c.output.quality) for c in CASES}
    assert {(OutputFormat.WEBP, 1), (OutputFormat.WEBP, 100)} <= qualities
    assert {(OutputFormat.JPEG, 1), (OutputFormat.JPEG, 100)} <= qualities
    assert set(OutputFormat) <= {c.output.format for c in CASES}
    assert ("crop", {"size": 8192}) in [c.effects[0] for c in CASES]


@pytest.fixture
def backends(settings: Settings) -> Iterator[Backends]:
    yield open_backends(settings.with_overrides(autoscale=False))


def submit(service: IngestService, case: Case) -> Accepted:
    backdrop = any(n == "background" and p.get("mode") == "image" for n, p in case.effects)
    return service.submit(
        Submission(
            effects=[(n, dict(p)) for n, p in case.effects],
            output=case.output,
            priority=Priority.STANDARD,
            client=ClientInfo(),
            data=PHOTO,
            background=BACKDROP if backdrop else None,
        )
    )


def stored_part(results: dict[str, EffectResult]) -> dict[str, dict[str, Any]]:
    """What identifies a stored result (the worker's ``seconds`` and ``written_at`` are its own)."""
    return {name: r.model_dump(exclude={"seconds", "written_at"}) for name, r in results.items()}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_what_the_worker_stores_ingest_finds(
    case: Case, settings: Settings, backends: Backends
) -> None:
    service = IngestService(settings.with_overrides(autoscale=False), backends)
    first = submit(service, case)
    assert not first.cached and first.job.state is JobState.QUEUED

    render(settings, backends, first.job, PHOTO)
    rendered = backends.status.get(first.job.id)
    assert rendered.effect_errors == {}
    assert set(rendered.results) == set(rendered.displays) == {n for n, _ in case.effects}

    again = submit(service, case)
    assert again.cached and again.job.id != first.job.id
    assert stored_part(again.job.results) == stored_part(rendered.results)
    assert stored_part(again.job.displays) == stored_part(rendered.displays)
    for result in [*again.job.results.values(), *again.job.displays.values()]:
        assert result.width > 0 and result.height > 0 and result.bytes > 0
        assert len(backends.blobs.get(result.key)) == result.bytes


# -- serving a stored result restarts its retention clock ------------------------------


def retention_age_days(backends: Backends, key: str) -> float:
    """Days since the blob's clock started: the local retention sweep counts from mtime."""
    path = cast(LocalBlobStore, backends.blobs).root / key
    return (time.time() - path.stat().st_mtime) / 86400


def make_old(backends: Backends, key: str, days: float) -> None:
    path = cast(LocalBlobStore, backends.blobs).root / key
    then = time.time() - days * 86400
    os.utime(path, (then, then))


def test_a_full_cache_hit_at_ingest_refreshes_every_result_it_serves(
    settings: Settings, backends: Backends
) -> None:
    service = IngestService(settings.with_overrides(autoscale=False), backends)
    case = Case((("crop", {}), ("blackwhite", {})))
    first = submit(service, case)
    render(settings, backends, first.job, PHOTO)
    keys = [r.key for r in backends.status.get(first.job.id).results.values()]
    for key in keys:
        make_old(backends, key, days=29)
        assert retention_age_days(backends, key) > 28

    assert submit(service, case).cached
    assert all(retention_age_days(backends, key) < 0.01 for key in keys)


def test_the_worker_reusing_a_stored_result_refreshes_it(
    settings: Settings, backends: Backends
) -> None:
    service = IngestService(settings.with_overrides(autoscale=False), backends)
    first = submit(service, Case((("color", {}),)))
    render(settings, backends, first.job, PHOTO)
    [color] = backends.status.get(first.job.id).results.values()
    make_old(backends, color.key, days=29)

    partial = submit(service, Case((("color", {}), ("popart", {}))))
    assert not partial.cached  # popart is new: the job is queued
    rendered = render(settings, backends, partial.job, PHOTO)
    assert rendered.stages.get("cached.color") == 1  # reused, not recomputed
    assert backends.status.get(partial.job.id).results["color"].key == color.key
    assert retention_age_days(backends, color.key) < 0.01


def test_the_keys_of_results_stored_before_the_plan_existed_are_unchanged() -> None:
    """Pinned from the code before cutout/results.py: results already in storage keep
    being found (a rendition or input-identity change must leave these keys alone)."""
    upload = InputInfo(key="uploads/x", sha256="ab" * 32, width=4, height=3, format="jpeg", bytes=9)
    job = Job(
        id="pinned",
        input=upload,
        effects=[EffectRequest(name=n, params=effects.validate(n, {})) for n in PINNED],
        output=OutputSpec(format=OutputFormat.WEBP, quality=80),
    )
    crop, blackwhite = results.plan(job, "inspyrenet-base@1")
    assert (crop.chain, blackwhite.chain) == ((0,), (0, 1))
    assert crop.blob_key == f"results/{PINNED['crop']}.webp"
    assert blackwhite.cache_key == PINNED["blackwhite"]
    assert crop.rendition == blackwhite.rendition == results.FULL


PINNED = {
    "crop": "c67f6e4daed9d6607a740766a59de310830003d5806f35f81173722dd8ed41bc",
    "blackwhite": "64cbdf29d08d638974f991ecfdd0d702811eae2b44930899628e93fb9373c077",
}
