"""Turns Google client exceptions into cutout's error classes, with context.

The adapters wrap every call in :func:`translated`, so callers above the ports only ever
see :mod:`cutout.errors` types: ``NotFound`` for a missing object or document,
``TransientError`` for what a retry may fix (5xx, 429, timeouts, aborted transactions
and transactions that ran out of attempts, lost connections), ``PermissionDenied`` (a
``ConfigurationError``) for refused credentials and permissions, ``ConfigurationError``
for missing ones. Anything else is raised unchanged: it is a bug, not a
condition to handle.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import requests
from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exc

from cutout.errors import ConfigurationError, NotFound, PermissionDenied, TransientError

_TRANSIENT: tuple[type[BaseException], ...] = (
    gexc.ServerError,
    gexc.TooManyRequests,
    gexc.Aborted,
    gexc.RetryError,
    auth_exc.TransportError,
    requests.ConnectionError,
    requests.Timeout,
    TimeoutError,
)
_DENIED: tuple[type[BaseException], ...] = (gexc.Unauthorized, gexc.Forbidden)
_CONFIGURATION: tuple[type[BaseException], ...] = (
    auth_exc.DefaultCredentialsError,
    auth_exc.RefreshError,
)


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Run the block; re-raise Google errors as cutout errors whose message starts with
    ``what`` (e.g. ``"reading gs://bucket/key"``)."""
    try:
        yield
    except gexc.NotFound as exc:
        raise NotFound(f"{what}: not found ({exc.message})") from exc
    except _TRANSIENT as exc:
        raise TransientError(f"{what}: {exc}") from exc
    except _DENIED as exc:
        raise PermissionDenied(f"{what}: {exc}") from exc
    except _CONFIGURATION as exc:
        raise ConfigurationError(f"{what}: {exc}") from exc
    except ValueError as exc:
        # Firestore's @transactional gives up with a ValueError whose cause is the last
        # API error (e.g. "Transaction lock timeout": a crashed process's transaction
        # still holds the document); that is as transient as the error itself.
        if isinstance(exc.__cause__, gexc.GoogleAPICallError):
            raise TransientError(f"{what}: {exc} ({exc.__cause__})") from exc
        raise
