"""The planner's reality check (tests/test_plan_reality.py) runs only when asked for
(``--reality``, ``make test-reality``): it compares latencies of a real stack with a
simulation, and on this shared 2-core machine the real P95 moved from 6.6 s to 16.7 s
with the load of other work (measured 2026-12-01), so as a gate it would fail on load,
not on code. Left out, it is named in a loud last line, never silently."""

from __future__ import annotations

import pytest

_LEFT_OUT = pytest.StashKey[int]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--reality",
        action="store_true",
        help="also run the planner's reality check against a real stack (load-sensitive)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--reality"):
        return
    left_out = [item for item in items if item.get_closest_marker("reality")]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not item.get_closest_marker("reality")]
        config.stash[_LEFT_OUT] = len(left_out)


def pytest_unconfigure(config: pytest.Config) -> None:
    count = config.stash.get(_LEFT_OUT, 0)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if count and reporter is not None:
        reporter.write_line(
            f"NOT RUN: {count} reality check(s) of the planner against a real stack "
            "(load-sensitive timing): run `make test-reality`",
            yellow=True,
            bold=True,
        )
