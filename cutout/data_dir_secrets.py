"""Secrets a local install keeps in its data directory, made on first use, so that
processes started separately (ingest, workers, the CLI) agree on them."""

from __future__ import annotations

import os
import secrets

from cutout.settings import Settings


def local_url_secret(settings: Settings) -> str:
    """The local URL-signing key: the configured one, or one kept in the data directory so
    that ingest and workers started separately agree on it."""
    return settings.url_secret or data_dir_secret(settings, "url-secret")


def data_dir_secret(settings: Settings, name: str) -> str:
    """A random secret kept in ``data_dir/name`` (mode 0600), made by whichever process
    asks first. It is written aside and linked into place, so a process racing to read
    it sees the whole secret or none, and every racer ends up with the same one."""
    path = settings.data_dir / name
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        aside = path.with_name(f".{name}.{secrets.token_hex(4)}")
        with os.fdopen(os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as fh:
            fh.write(secrets.token_hex(32))
        try:
            os.link(aside, path)
        except FileExistsError:
            pass
        finally:
            aside.unlink()
        return path.read_text().strip()
