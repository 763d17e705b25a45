"""The README keeps its promises: the two commands first, CI running the test command,
and every setting documented."""

from __future__ import annotations

from pathlib import Path

from cutout.settings import ENV_PREFIX, Settings
from tests.test_ingest_api import BAD_INPUTS

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()


def test_the_readme_starts_with_the_two_commands() -> None:
    first = README.split("```")[1].splitlines()
    assert first[1].startswith("make up")
    assert first[2].startswith("make test")


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text().splitlines()[-1]


def test_every_setting_is_documented() -> None:
    missing = [
        ENV_PREFIX + name.upper()
        for name in Settings.model_fields
        if ENV_PREFIX + name.upper() not in README
    ]
    assert not missing, f"README's configuration table lacks {missing}"


def test_the_readme_counts_the_bad_input_codes_right() -> None:
    assert f"lists the {len(BAD_INPUTS)} codes a bad request can get" in README
