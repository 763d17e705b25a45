"""``cutout keys create|list|revoke`` on both families, and the local stack's own key."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from werkzeug.datastructures import Headers

from cutout.backends import open_backends
from cutout.cli.client import open_api
from cutout.cli.local_key import LOCAL_KEY_FILE, ensure_local_key, local_key
from cutout.cli.main import cli
from cutout.job import Priority
from cutout.keys import KeyKind
from cutout.settings import Settings
from ingest.auth import KeyRing, Unauthorized


def run(data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--data-dir", str(data_dir), "keys", *args])


def lines(result: Result) -> list[dict[str, Any]]:
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def ring(data_dir: Path) -> KeyRing:
    settings = Settings(data_dir=data_dir)
    return KeyRing.for_settings(settings, open_backends(settings).keys)


def test_create_prints_the_token_once_and_ingest_accepts_it(data_dir: Path) -> None:
    [made] = lines(
        run(data_dir, "create", "--kind", "secret", "--tier", "high", "--label", "backfill",
            "--requests-per-minute", "120")
    )  # fmt: skip
    assert made["token"].startswith(f"sk_live_{made['id']}_")
    assert made["kind"] == "secret" and made["tier"] == "high" and made["label"] == "backfill"
    assert made["quotas"] == {"requests_per_minute": 120, "images_per_day": None}
    assert "digest" not in made
    caller = ring(data_dir).identify(Headers({"X-API-Key": made["token"]}))
    assert (caller.key_id, caller.tier, caller.kind) == (made["id"], Priority.HIGH, KeyKind.SECRET)


def test_list_shows_records_never_tokens_and_revoke_stops_the_key(data_dir: Path) -> None:
    [secret] = lines(run(data_dir, "create", "--kind", "secret"))
    [shop] = lines(
        run(data_dir, "create", "--kind", "publishable", "--origin", "https://shop.example",
            "--origin", "http://localhost:3000")
    )  # fmt: skip
    listed = run(data_dir, "list")
    assert secret["token"] not in listed.stdout and shop["token"] not in listed.stdout
    assert "digest" not in listed.stdout
    assert [k["id"] for k in lines(listed)] == [secret["id"], shop["id"]]
    assert lines(listed)[1]["allowed_origins"] == ["https://shop.example", "http://localhost:3000"]

    [revoked] = lines(run(data_dir, "revoke", shop["id"]))
    assert revoked["id"] == shop["id"] and revoked["revoked_at"]
    assert [k["id"] for k in lines(run(data_dir, "list", "--active"))] == [secret["id"]]
    with pytest.raises(Unauthorized) as caught:
        ring(data_dir).identify(Headers({"Authorization": f"Bearer {shop['token']}"}))
    assert caught.value.code == "revoked_api_key"


@pytest.mark.emulator
def test_the_same_commands_with_backend_gcp_write_firestore(
    gcp_settings: Settings, monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    for name, value in gcp_settings.with_overrides(backend="local").to_env().items():
        monkeypatch.setenv(name, value)  # the project and buckets; --backend picks gcp
    [made] = lines(run(data_dir, "create", "--kind", "secret", "--backend", "gcp"))
    firestore_keys = open_backends(gcp_settings.with_overrides(data_dir=data_dir)).keys
    assert firestore_keys.get(made["id"]).kind is KeyKind.SECRET
    assert lines(run(data_dir, "list")) == []  # the local family has none
    assert [k["id"] for k in lines(run(data_dir, "list", "--backend", "gcp"))] == [made["id"]]
    lines(run(data_dir, "revoke", made["id"], "--backend", "gcp"))
    assert firestore_keys.get(made["id"]).revoked


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["create", "--kind", "publishable"], "invalid_key_record"),
        (["create", "--kind", "publishable", "--origin", "https://shop.example/"],
         "invalid_origin"),
        (["create", "--kind", "secret", "--origin", "https://shop.example"],
         "invalid_key_record"),
        (["revoke", "0123456789ab"], "key_not_found"),
    ],
)  # fmt: skip
def test_bad_requests_are_one_line_errors_that_store_nothing(
    data_dir: Path, args: list[str], code: str
) -> None:
    result = run(data_dir, *args)
    assert result.exit_code == 1
    assert f"Error: {code}:" in result.output and "Traceback" not in result.output
    assert lines(run(data_dir, "list")) == []


def test_up_mints_a_private_local_key_once_and_again_only_when_it_stopped_working(
    data_dir: Path,
) -> None:
    settings = Settings(data_dir=data_dir)
    store = open_backends(settings).keys
    key_id = ensure_local_key(settings, store)
    path = data_dir / LOCAL_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    record = store.get(key_id)
    assert (record.kind, record.tier) == (KeyKind.SECRET, Priority.HIGH)
    assert record.quotas.requests_per_minute == 6000
    assert record.quotas.images_per_day == 1_000_000
    assert ensure_local_key(settings, store) == key_id
    store.revoke(key_id)
    fresh = ensure_local_key(settings, store)
    assert fresh != key_id and path.read_text().strip().startswith(f"sk_live_{fresh}_")
    assert ring(data_dir).identify(Headers({"X-API-Key": path.read_text().strip()}))


def test_the_cli_client_sends_the_local_key_only_to_loopback(data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir)
    assert local_key(settings, "http://127.0.0.1:8080") is None  # not minted yet
    ensure_local_key(settings, open_backends(settings).keys)
    token = (data_dir / LOCAL_KEY_FILE).read_text().strip()
    for url in ("http://127.0.0.1:8080", "http://localhost:9000", None):
        api = open_api(settings, url, None)
        assert api.session.headers["Authorization"] == f"Bearer {token}"
    remote = open_api(settings, "https://cutout.example.com", None)
    assert "Authorization" not in remote.session.headers
    given = open_api(settings, None, "sk_live_given")
    assert given.session.headers["Authorization"] == "Bearer sk_live_given"
