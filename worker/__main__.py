"""``python -m worker``: what launchers start; settings come only from CUTOUT_* variables."""

from __future__ import annotations

import logging
import sys

from cutout.errors import ConfigurationError
from cutout.settings import Settings
from worker.commands import run_worker

try:
    run_worker(Settings.from_env())
except ConfigurationError as exc:
    logging.getLogger("worker").critical("worker stopped: %s: %s", exc.code, exc.message)
    sys.exit(2)
