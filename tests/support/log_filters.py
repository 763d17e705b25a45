"""The part of Cloud Logging's query language that infra/monitoring.tf's log-based metrics
use (``path = "value"``, ``!=``, ``AND``, ``OR``, parentheses), evaluated against a log
entry, so a test can tell whether a record the code emits would be counted by a metric.

Entries are shaped as Cloud Run delivers our JSON lines: ``{"resource": {"type": …,
"labels": {…}}, "jsonPayload": {…the line…}}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tests.support.infra import Terraform

_TOKEN = re.compile(r'\s*(\(|\)|AND\b|OR\b|"(?:[^"\\]|\\.)*"|!=|=|[A-Za-z_][\w.]*)')
_REFERENCE = re.compile(r"\$\{(local|var)\.(\w+)\}")
_REPLACE = re.compile(r'\$\{replace\(var\.(\w+), "([^"]*)", "([^"]*)"\)\}')
_EXTRACT = re.compile(r"EXTRACT\(jsonPayload\.(\w+)\)")


def expand(tf: Terraform, text: str) -> str:
    """Replace ``${local.x}``, ``${var.x}`` (defaults) and ``${replace(var.x, "a", "b")}``
    until none is left; anything else left unexpanded is an error."""
    while True:
        if match := _REFERENCE.search(text):
            kind, name = match.groups()
            value = str(tf.locals[name] if kind == "local" else tf.default(name))
        elif match := _REPLACE.search(text):
            name, old, new = match.groups()
            value = str(tf.default(name)).replace(old, new)
        else:
            break
        text = text[: match.start()] + value + text[match.end() :]
    assert "${" not in text, f"cannot expand {text!r}"
    return text


def extracted_field(extractor: str) -> str:
    """``EXTRACT(jsonPayload.x)`` → ``x``."""
    match = _EXTRACT.fullmatch(extractor)
    assert match, f"{extractor!r} is not EXTRACT(jsonPayload.<field>)"
    return match.group(1)


@dataclass(frozen=True)
class Comparison:
    path: str
    op: str
    value: str

    def holds(self, entry: dict[str, Any]) -> bool:
        found: Any = entry
        for part in self.path.split("."):
            found = found.get(part) if isinstance(found, dict) else None
        if found is None:
            return self.op == "!="
        text = ("true" if found else "false") if isinstance(found, bool) else str(found)
        return (text == self.value) == (self.op == "=")


@dataclass(frozen=True)
class Filter:
    """A parsed filter: OR of ANDs of comparisons or nested filters."""

    alternatives: tuple[tuple[Comparison | Filter, ...], ...]

    def matches(self, entry: dict[str, Any]) -> bool:
        return any(
            all(c.matches(entry) if isinstance(c, Filter) else c.holds(entry) for c in alt)
            for alt in self.alternatives
        )

    def payload_fields(self) -> set[str]:
        """Every ``jsonPayload.<field>`` the filter names."""
        fields: set[str] = set()
        for alt in self.alternatives:
            for c in alt:
                if isinstance(c, Filter):
                    fields |= c.payload_fields()
                elif c.path.startswith("jsonPayload."):
                    fields.add(c.path.removeprefix("jsonPayload."))
        return fields


def parse(text: str) -> Filter:
    tokens = _tokens(text)
    result, rest = _expr(tokens)
    assert not rest, f"unparsed filter tail {rest!r} in {text!r}"
    return result


def _tokens(text: str) -> list[str]:
    tokens, pos = [], 0
    while pos < len(text.rstrip()):
        match = _TOKEN.match(text, pos)
        assert match, f"cannot read filter at {text[pos:]!r}"
        tokens.append(match.group(1))
        pos = match.end()
    return tokens


def _expr(tokens: list[str]) -> tuple[Filter, list[str]]:
    alternatives = []
    while True:
        term, tokens = _term(tokens)
        alternatives.append(term)
        if not tokens or tokens[0] != "OR":
            return Filter(tuple(alternatives)), tokens
        tokens = tokens[1:]


def _term(tokens: list[str]) -> tuple[tuple[Comparison | Filter, ...], list[str]]:
    factors: list[Comparison | Filter] = []
    while True:
        if tokens[0] == "(":
            nested, tokens = _expr(tokens[1:])
            assert tokens and tokens[0] == ")", "unbalanced parentheses"
            factors.append(nested)
            tokens = tokens[1:]
        else:
            path, op, value, *tokens = tokens
            assert op in ("=", "!="), f"unsupported operator {op!r}"
            factors.append(Comparison(path, op, value.strip('"')))
        if not tokens or tokens[0] != "AND":
            return tuple(factors), tokens
        tokens = tokens[1:]
