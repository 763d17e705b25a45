"""The key contract (cutout/keys.py): tokens, digests, records, origins, the pepper."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from cutout.errors import ConfigurationError, InvalidInput
from cutout.job import Priority
from cutout.keys import (
    KeyKind,
    check_origin,
    issue_key,
    key_id_of,
    key_pepper,
    token_digest,
    token_matches,
)
from cutout.settings import Settings

PEPPER = b"unit-pepper"


def test_a_token_is_long_random_names_its_kind_and_id_and_is_stored_only_hashed() -> None:
    issued = issue_key(PEPPER, kind=KeyKind.SECRET)
    other = issue_key(PEPPER, kind=KeyKind.SECRET)
    assert issued.token.startswith(f"sk_live_{issued.record.id}_")
    secret = issued.token.removeprefix(f"sk_live_{issued.record.id}_")
    assert len(secret) == 43  # token_urlsafe(32): 256 random bits
    assert issued.token != other.token and issued.record.id != other.record.id
    assert key_id_of(issued.token) == issued.record.id
    assert issued.token not in issued.record.model_dump_json()
    assert issued.record.digest == token_digest(PEPPER, issued.token)
    assert "digest" not in issued.record.public()
    publishable = issue_key(PEPPER, kind=KeyKind.PUBLISHABLE, allowed_origins=("https://a.b",))
    assert publishable.token.startswith("pk_live_")


def test_only_the_issued_token_under_the_same_pepper_matches() -> None:
    issued = issue_key(PEPPER, kind=KeyKind.SECRET)
    assert token_matches(issued.record, PEPPER, issued.token)
    assert not token_matches(issued.record, b"another-pepper", issued.token)
    last = "B" if issued.token.endswith("A") else "A"  # a different last character
    assert not token_matches(issued.record, PEPPER, issued.token[:-1] + last)
    swapped_kind = "pk_live_" + issued.token.removeprefix("sk_live_")
    assert not token_matches(issued.record, PEPPER, swapped_kind)


@pytest.mark.parametrize(
    "token", ["", "sk_live_", "sk_live_0123456789ab", "sk_live_0123456789ab_", "xk_live_0123_x",
              "sk_live_0123456789AB_secret", "sk_live_../../etc_secret"],
)  # fmt: skip
def test_malformed_tokens_name_no_key(token: str) -> None:
    assert key_id_of(token) is None


@pytest.mark.parametrize(
    "origin", ["https://shop.example", "http://localhost:3000", "http://127.0.0.1:8080",
               "https://[::1]:8443"],
)  # fmt: skip
def test_exact_origins_are_accepted(origin: str) -> None:
    assert check_origin(origin) == origin


@pytest.mark.parametrize(
    "origin", ["https://shop.example/", "https://shop.example/page", "https://Shop.example",
               "https://shop.example:443", "http://shop.example:80", "ftp://shop.example",
               "shop.example", "*", "null", "https://*.example", "https://u@shop.example",
               "https://shop.example:99999", "https://shop.example?x=1"],
)  # fmt: skip
def test_anything_but_an_exact_origin_is_refused(origin: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_origin(origin)
    assert caught.value.code == "invalid_origin"


def test_kind_rules_publishable_needs_origins_and_no_high_secret_takes_no_origins() -> None:
    for kind, fields in [
        (KeyKind.PUBLISHABLE, {}),
        (KeyKind.PUBLISHABLE, {"allowed_origins": ("https://a.b",), "tier": Priority.HIGH}),
        (KeyKind.SECRET, {"allowed_origins": ("https://a.b",)}),
    ]:
        with pytest.raises(InvalidInput) as caught:
            issue_key(PEPPER, kind=kind, **fields)
        assert caught.value.code == "invalid_key_record"
    assert issue_key(PEPPER, kind=KeyKind.SECRET, tier=Priority.HIGH).record.tier is Priority.HIGH


def test_the_pepper_is_the_setting_else_one_file_in_the_data_dir(tmp_path: Path) -> None:
    assert key_pepper(Settings(key_pepper="configured")) == b"configured"
    local = Settings(data_dir=tmp_path / "data")
    made = key_pepper(local)
    assert len(made) == 64 and key_pepper(local) == made
    mode = (tmp_path / "data" / "key-pepper").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_production_gcp_refuses_to_run_without_a_configured_pepper(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("FIRESTORE_EMULATOR_HOST", raising=False)
    with pytest.raises(ConfigurationError, match="CUTOUT_KEY_PEPPER"):
        key_pepper(Settings(backend="gcp", data_dir=tmp_path))
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:1")
    assert key_pepper(Settings(backend="gcp", data_dir=tmp_path))
