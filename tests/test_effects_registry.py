"""The registry: catalogue, validation of every parameter, composition plans, running."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import effects
from effects import EffectContext, InvalidParams, UnknownEffect, registry
from tests.support.effects_inputs import cutout


def _params() -> list[tuple[str, str, dict[str, Any]]]:
    """(effect, parameter, its JSON schema) for every parameter in the catalogue."""
    cases = []
    for entry in effects.catalogue():
        for param, schema in entry["params"].get("properties", {}).items():
            cases.append((entry["name"], param, schema))
    return cases


PARAMS = _params()
PARAM_IDS = [f"{e}.{p}" for e, p, _ in PARAMS]


def _kinds(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]


def _good_values(schema: dict[str, Any]) -> list[Any]:
    values: list[Any] = []
    for kind in _kinds(schema):
        if "enum" in kind:
            values += kind["enum"]
        elif kind["type"] in ("number", "integer"):
            lo, hi = kind["minimum"], kind["maximum"]
            mid = (lo + hi) / 2 if kind["type"] == "number" else (lo + hi) // 2
            values += [lo, mid, hi]
        elif kind["type"] == "boolean":
            values += [True, False]
    return values


def _base(effect: str, param: str, value: Any = None) -> dict[str, Any]:
    """Other parameters a value of ``param`` needs to be valid on its own."""
    if effect == "background" and param == "image":
        return {"mode": "image"}
    if effect == "background" and param == "mode" and value == "image":
        return {"image": "uploads/abc123"}
    return {}


def test_names_and_catalogue_agree() -> None:
    entries = effects.catalogue()
    assert [e["name"] for e in entries] == effects.names()
    assert set(effects.names()) == {
        "color", "blackwhite", "popart", "halftone", "retro8bit", "background", "crop",
    }  # fmt: skip
    assert json.loads(json.dumps(entries)) == entries
    for entry in entries:
        assert entry["summary"] and entry["composes"]
        assert entry["stage"] in {s.value for s in effects.Stage}
        assert entry["params"]["type"] == "object"
        assert entry["params"]["additionalProperties"] is False


def test_defaults_are_canonical_and_json_ready() -> None:
    for name in effects.names():
        canonical = effects.validate(name, {})
        assert json.loads(json.dumps(canonical)) == canonical
        assert effects.validate(name, canonical) == canonical  # idempotent


def test_equal_requests_give_equal_dicts() -> None:
    assert effects.validate("blackwhite", {"contrast": 1}) == effects.validate(
        "blackwhite", {"contrast": 1.0}
    )
    assert effects.validate("background", {"color": "#ABC"})["color"] == "#aabbcc"
    assert effects.validate("background", {"color": "aabbcc"})["color"] == "#aabbcc"
    assert effects.validate("crop", {"aspect": "8:10"})["aspect"] == "4:5"
    assert effects.validate("crop", {"aspect": " 16 : 9 "})["aspect"] == "16:9"
    assert json.dumps(effects.validate("blackwhite", {"contrast": 1})) == json.dumps(
        effects.validate("blackwhite", {"contrast": 1.0})
    )


@pytest.mark.parametrize(("effect", "param", "schema"), PARAMS, ids=PARAM_IDS)
def test_every_parameter_in_range_is_accepted(
    effect: str, param: str, schema: dict[str, Any]
) -> None:
    values = _good_values(schema)
    if param == "color":
        values = ["#000000", "#FFF", "12ab9f"]
    elif param == "aspect":
        values = ["1:1", "4:5", "16:9", "1:10", None]
    elif param == "image":
        values = ["uploads/abc123"]
    assert values, f"no test values for {effect}.{param}"
    for value in values:
        canonical = effects.validate(effect, {**_base(effect, param, value), param: value})
        if isinstance(value, float | int) and not isinstance(value, bool):
            assert canonical[param] == pytest.approx(value)


@pytest.mark.parametrize(("effect", "param", "schema"), PARAMS, ids=PARAM_IDS)
def test_every_parameter_out_of_range_or_wrong_type_is_rejected(
    effect: str, param: str, schema: dict[str, Any]
) -> None:
    bad: list[Any] = [[1], {"a": 1}]
    for kind in _kinds(schema):
        if "enum" in kind:
            bad += ["no-such-choice", 3]
        elif kind["type"] in ("number", "integer"):
            step = 1 if kind["type"] == "integer" else 0.001
            bad += [kind["minimum"] - step, kind["maximum"] + step, "1", True]
            if kind["type"] == "integer":
                bad.append(kind["minimum"] + 0.5)
            else:
                bad += [float("nan"), float("inf")]
        elif kind["type"] == "boolean":
            bad += ["yes", 1]
        elif kind["type"] == "string":
            bad += [7, ""] if param != "aspect" else [7, "4x5", "0:3", "1:11", "a:b"]
            if param == "color":
                bad += ["red", "#12345", "#ggg"]
            if param == "image":
                bad.append("k" * 513)
    for value in bad:
        with pytest.raises(InvalidParams) as info:
            effects.validate(effect, {**_base(effect, param), param: value})
        assert info.value.param == param
        assert info.value.code == "invalid_params"
        assert param in str(info.value)
        assert isinstance(info.value, ValueError)


NUMERIC = [
    (e, p, k) for e, p, s in PARAMS for k in _kinds(s) if k.get("type") in ("number", "integer")
]


@pytest.mark.parametrize(
    ("effect", "param", "kind"), NUMERIC, ids=[f"{e}.{p}" for e, p, _ in NUMERIC]
)
def test_range_is_named_in_the_message(effect: str, param: str, kind: dict[str, Any]) -> None:
    with pytest.raises(InvalidParams) as info:
        effects.validate(effect, {param: kind["maximum"] * 2 + 1})
    assert f"from {kind['minimum']} to {kind['maximum']}" in str(info.value)


@pytest.mark.parametrize("effect", ["popart", "retro8bit", "crop"])
def test_choices_are_named_in_the_message(effect: str) -> None:
    param = {"popart": "palette", "retro8bit": "palette", "crop": "fit"}[effect]
    with pytest.raises(InvalidParams) as info:
        effects.validate(effect, {param: "nope"})
    schema = effects.get(effect).params.model_json_schema()["properties"][param]
    for choice in schema["enum"]:
        assert repr(choice) in str(info.value)


@pytest.mark.parametrize("effect", ["color", "blackwhite", "crop"])
def test_unknown_parameter_is_rejected_by_name(effect: str) -> None:
    with pytest.raises(InvalidParams) as info:
        effects.validate(effect, {"sharpness": 1})
    assert info.value.param == "sharpness"
    assert "unknown parameter" in str(info.value)


def test_params_must_be_a_mapping() -> None:
    with pytest.raises(InvalidParams) as info:
        effects.validate("crop", [("margin", 0.1)])  # type: ignore[arg-type]
    assert info.value.param == "params"


def test_unknown_effect_lists_the_valid_names() -> None:
    with pytest.raises(UnknownEffect) as info:
        effects.validate("sepia", {})
    assert info.value.code == "unknown_effect"
    assert isinstance(info.value, effects.EffectError)
    assert isinstance(info.value, ValueError)
    for name in effects.names():
        assert name in str(info.value)


def test_background_image_key_only_with_mode_image() -> None:
    with pytest.raises(InvalidParams) as info:
        effects.validate("background", {"mode": "image"})
    assert info.value.param == "image"
    assert "second" in str(info.value)
    with pytest.raises(InvalidParams) as info:
        effects.validate("background", {"mode": "blur", "image": "uploads/x"})
    assert info.value.param == "image"
    ok = effects.validate("background", {"mode": "image", "image": "uploads/x"})
    assert ok["image"] == "uploads/x"


@pytest.mark.parametrize(
    ("names", "chains"),
    [
        (["crop", "blackwhite", "color"], [[0], [0, 1], [0, 2]]),
        (["crop", "background", "blackwhite"], [[0], [0, 1], [0, 1, 2]]),
        (["background", "crop", "halftone"], [[0], [1], [1, 0, 2]]),
        (["blackwhite", "crop"], [[0], [1]]),
        (["popart", "halftone", "retro8bit"], [[0], [1], [2]]),
        (["color", "background"], [[0], [1]]),
        ([], []),
    ],
)
def test_plan(names: list[str], chains: list[list[int]]) -> None:
    assert effects.plan(names) == chains


def test_plan_rejects_unknown_names() -> None:
    with pytest.raises(UnknownEffect):
        effects.plan(["crop", "vignette"])


def test_run_applies_a_chain_in_order() -> None:
    rgba, ctx = cutout()
    crop = effects.validate("crop", {"aspect": "1:1"})
    bw = effects.validate("blackwhite", {})
    chained = effects.run([("crop", crop), ("blackwhite", bw)], rgba, ctx)
    by_hand = effects.run([("blackwhite", bw)], effects.run([("crop", crop)], rgba, ctx), ctx)
    np.testing.assert_array_equal(chained, by_hand)
    assert chained.shape[0] == chained.shape[1]


def test_run_crops_the_original_for_a_blurred_background() -> None:
    rgba, ctx = cutout()
    steps = [
        ("crop", effects.validate("crop", {"aspect": "1:1", "size": 100})),
        ("background", effects.validate("background", {"mode": "blur"})),
    ]
    out = effects.run(steps, rgba, ctx)  # would raise on a size mismatch
    assert out.shape == (100, 100, 4)
    assert (out[:, :, 3] == 255).all()


def test_run_validates_params_again() -> None:
    rgba, ctx = cutout()
    with pytest.raises(InvalidParams):
        effects.run([("halftone", {"spacing": 0})], rgba, ctx)


@pytest.mark.parametrize("threads", [1, 2])
def test_run_all_matches_run_and_shares_prefixes(
    threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rgba, ctx = cutout()
    names = ["crop", "background", "blackwhite", "halftone", "color"]
    steps = [(n, effects.validate(n, {"mode": "blur"} if n == "background" else {})) for n in names]
    calls: list[str] = []
    real_step = registry._step

    def counting(name: str, *args: Any) -> Any:
        calls.append(name)
        return real_step(name, *args)

    monkeypatch.setattr(registry, "_step", counting)
    outcomes = list(effects.run_all(steps, rgba, ctx, threads=threads))
    assert sorted(o.index for o in outcomes) == list(range(len(names)))
    assert calls.count("crop") == 1 and calls.count("background") == 1
    for outcome in outcomes:
        assert outcome.error is None and outcome.image is not None
        assert outcome.seconds >= 0
        chain = [steps[i] for i in effects.plan(names)[outcome.index]]
        monkeypatch.setattr(registry, "_step", real_step)
        np.testing.assert_array_equal(outcome.image, effects.run(chain, rgba, ctx))


def test_run_all_reports_errors_per_effect() -> None:
    rgba, _ = cutout()
    no_original = EffectContext()
    names = ["background", "blackwhite", "popart"]
    steps = [(n, effects.validate(n, {"mode": "blur"} if n == "background" else {})) for n in names]
    outcomes = {o.index: o for o in effects.run_all(steps, rgba, no_original, threads=2)}
    for i in (0, 1, 2):  # the backdrop fails, and both looks are built on it
        assert isinstance(outcomes[i].error, ValueError)
        assert "ctx.original" in str(outcomes[i].error)
        assert outcomes[i].image is None
    steps = [("popart", effects.validate("popart", {})), ("background", steps[0][1])]
    outcomes = {o.index: o for o in effects.run_all(steps, rgba, no_original)}
    assert outcomes[0].error is None and outcomes[0].image is not None
    assert outcomes[1].error is not None


def test_readme_documents_every_effect_and_parameter() -> None:
    readme = (Path(effects.__file__).parent / "README.md").read_text()
    sections = {s.split("`", 1)[0]: s for s in readme.split("\n### `")[1:]}
    assert set(sections) == set(effects.names())
    for entry in effects.catalogue():
        rows = {
            cells[1].strip("` "): cells[2].strip("` ")
            for line in sections[entry["name"]].splitlines()
            if line.startswith("| `") and len(cells := line.split("|")) > 3
        }
        for param, schema in entry["params"].get("properties", {}).items():
            assert param in rows, f"README lacks {entry['name']}.{param}"
            default, documented = schema["default"], rows[param]
            if isinstance(default, float | int) and not isinstance(default, bool):
                assert float(documented) == default, f"{entry['name']}.{param}"
            else:
                assert documented == json.dumps(default).strip('"'), f"{entry['name']}.{param}"
