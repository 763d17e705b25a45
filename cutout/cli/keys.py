"""``cutout keys create|list|revoke``: API key records, local or ``--backend gcp``.

Each command prints JSON. ``create`` prints the token once, beside the record: it is
never stored (only its HMAC under the pepper) and cannot be shown again. On GCP the
command needs the deployment's pepper (``CUTOUT_KEY_PEPPER``, from Secret Manager; see
infra/README.md) or the keys it creates would not match at ingest.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import click

from cutout.backends import open_backends
from cutout.errors import CutoutError
from cutout.job import Priority
from cutout.keys import KeyKind, Quotas, issue_key, key_pepper
from cutout.ports import KeyStore
from cutout.settings import Settings

_backend_option = click.option(
    "--backend", type=click.Choice(["local", "gcp"]), help="[env CUTOUT_BACKEND]"
)


@click.group()
def keys() -> None:
    """Create, list and revoke API keys."""


@keys.command()
@click.option("--kind", type=click.Choice([k.value for k in KeyKind]), required=True)
@click.option(
    "--tier",
    type=click.Choice([p.value for p in Priority]),
    default=Priority.STANDARD.value,
    show_default=True,
    help="the most urgent priority the key may use (high: secret keys only)",
)
@click.option(
    "--origin", "origins", multiple=True, help="allowed browser origin (publishable; repeat)"
)
@click.option("--source", "sources", multiple=True,
              help="gs:// prefix its backfills may read (secret; repeat)")  # fmt: skip
@click.option("--dest", "destinations", multiple=True,
              help="gs:// prefix its backfills may write (secret; repeat)")  # fmt: skip
@click.option("--requests-per-minute", type=click.IntRange(min=1), help="[deployment default]")
@click.option("--images-per-day", type=click.IntRange(min=1), help="[deployment default]")
@click.option("--label", default="", help="who the key is for")
@_backend_option
@click.pass_obj
def create(
    settings: Settings,
    kind: str,
    tier: str,
    origins: tuple[str, ...],
    sources: tuple[str, ...],
    destinations: tuple[str, ...],
    requests_per_minute: int | None,
    images_per_day: int | None,
    label: str,
    backend: str | None,
) -> None:
    """Mint a key; print its token (shown only now) and record as one JSON line."""
    with _store(settings, backend) as (store, chosen):
        issued = issue_key(
            key_pepper(chosen),
            kind=KeyKind(kind),
            tier=Priority(tier),
            quotas=Quotas(requests_per_minute=requests_per_minute, images_per_day=images_per_day),
            allowed_origins=origins,
            allowed_sources=sources,
            allowed_destinations=destinations,
            label=label,
        )
        store.create(issued.record)
    click.echo(json.dumps({"token": issued.token, **issued.record.public()}))
    click.echo("the token is shown only now: keep it", err=True)


@keys.command("list")
@click.option("--all/--active", "include_revoked", default=True, help="include revoked keys")
@_backend_option
@click.pass_obj
def list_keys(settings: Settings, include_revoked: bool, backend: str | None) -> None:
    """One JSON line per key, oldest first; never a token or a digest."""
    with _store(settings, backend) as (store, _):
        records = store.list_keys(include_revoked=include_revoked)
    for record in records:
        click.echo(json.dumps(record.public()))


@keys.command()
@click.argument("key_id")
@_backend_option
@click.pass_obj
def revoke(settings: Settings, key_id: str, backend: str | None) -> None:
    """Revoke a key by id; ingest refuses it within CUTOUT_KEY_CACHE_S seconds."""
    with _store(settings, backend) as (store, _):
        record = store.revoke(key_id)
    click.echo(json.dumps(record.public()))


@contextmanager
def _store(settings: Settings, backend: str | None) -> Iterator[tuple[KeyStore, Settings]]:
    """The key store of the chosen family (and the settings it was opened with), with our
    errors shown as one line instead of a traceback."""
    try:
        chosen = settings.with_overrides(backend=backend)
        yield open_backends(chosen).keys, chosen
    except CutoutError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from exc
