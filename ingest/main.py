"""The Cloud Run function entry point.

Run exactly as in production: ``functions-framework --target handle --source ingest/main.py``.
The app (settings, adapters) is built once per process, on the first request.
"""

from __future__ import annotations

import threading

import functions_framework
from flask import Request
from werkzeug.wrappers import Response

from cutout.backends import open_backends
from cutout.logs import configure_logging
from cutout.settings import Settings
from ingest.app import IngestApp

_app: IngestApp | None = None
_lock = threading.Lock()


def get_app() -> IngestApp:
    global _app
    with _lock:
        if _app is None:
            settings = Settings.from_env()
            configure_logging(settings.log_level)
            _app = IngestApp(settings, open_backends(settings))
        return _app


@functions_framework.http
def handle(request: Request) -> Response:
    return get_app().dispatch(request)
