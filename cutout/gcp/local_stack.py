"""The GCP pipeline on one machine, for ``cutout up --backend gcp``.

Google's Pub/Sub and Firestore emulators and fake-gcs-server stand in for the services
(started here unless ``*_EMULATOR_HOST`` variables already name running ones), and
workers run as local processes (``CUTOUT_LAUNCHER=local``): the Cloud Run Admin API has
no emulator. Everything else is the production code path: the same adapters, topics,
subscriptions, documents and signed URLs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cutout.backends import open_backends
from cutout.errors import ConfigurationError
from cutout.gcp import emulators
from cutout.settings import LauncherKind, Settings

log = logging.getLogger(__name__)

#: Names used when the settings leave them empty and all three services are emulated.
EMULATOR_DEFAULTS = {
    "gcp_project": "cutout-local",
    "uploads_bucket": "cutout-uploads",
    "results_bucket": "cutout-results",
}
EMULATOR_VARIABLES = ("PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST", "STORAGE_EMULATOR_HOST")


@contextmanager
def local_stack(settings: Settings, log_dir: Path) -> Iterator[tuple[Settings, dict[str, str]]]:
    """Yield the settings to run with and the emulator variables (empty when none are
    used) for child processes; they are also set in this process's environment while
    inside. If no ``*_EMULATOR_HOST`` is set, the three emulators are started (logs in
    ``log_dir``) and stopped by PID on exit. Topics, subscriptions and buckets are
    created before this yields, so ingest and workers start on a ready topology.
    Raises :class:`~cutout.errors.ConfigurationError` if an emulator is not installed."""
    given = {name: os.environ[name] for name in EMULATOR_VARIABLES if os.environ.get(name)}
    servers: list[emulators.Server] = []
    if not given:
        gaps = emulators.missing()
        if gaps:
            raise ConfigurationError(
                "--backend gcp runs on the emulators, which are not installed: missing "
                + "; ".join(gaps)
            )
        try:
            servers = emulators.start_all(log_dir)
        except RuntimeError as exc:
            raise ConfigurationError(f"the emulators did not start: {exc}") from exc
    variables = given or emulators.env_of(servers)
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        names = {}
        if len(variables) == len(EMULATOR_VARIABLES):  # no default ever names a real bucket
            names = {k: v for k, v in EMULATOR_DEFAULTS.items() if not getattr(settings, k)}
        ready = settings.with_overrides(launcher=LauncherKind.LOCAL, **names)
        open_backends(ready)  # creates what is missing on the emulators; checks the settings
        yield ready, variables
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        emulators.stop_all(servers)
