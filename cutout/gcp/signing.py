"""V4 signed URLs for Cloud Storage objects: reading results, and direct browser uploads.

Three ways to sign, chosen by :func:`signer_for`:

- **Emulator**: a process-local RSA key in a made-up service account. fake-gcs-server
  checks neither signature nor expiry, so the key only has to exist; the URLs still have
  the production shape (``X-Goog-Algorithm=GOOG4-RSA-SHA256`` …) and are served.
- **Credentials that hold a private key** (a service-account key file): signed locally
  with ``credentials.sign_bytes``.
- **Token-only credentials** (Cloud Run, GCE metadata server; the production case):
  signed remotely by the IAM Credentials API's ``signBlob`` with the service account's
  email and access token. That account needs ``roles/iam.serviceAccountTokenCreator``
  on itself.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Mapping
from functools import cache
from typing import Any

import google.auth.credentials
import google.auth.transport.requests
import google.cloud.storage as storage
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.oauth2 import service_account

from cutout.codes import ErrorCode
from cutout.errors import ConfigurationError, InvalidInput
from cutout.gcp.errors import translated

#: V4 signatures are valid for at most seven days.
MAX_TTL_S = 7 * 24 * 3600


class UrlSigner:
    """Signs with ``credentials``; URLs point at ``endpoint`` (the emulator's address, or
    the default ``https://storage.googleapis.com``)."""

    def __init__(
        self, credentials: google.auth.credentials.Credentials, *, endpoint: str | None = None
    ) -> None:
        self._credentials = credentials
        self._endpoint = endpoint
        self._refresh_lock = threading.Lock()

    def sign(
        self,
        blob: storage.Blob,
        *,
        method: str,
        ttl_s: int,
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """A URL allowing one ``method`` on ``blob`` for ``ttl_s`` seconds. For ``PUT`` the
        client must send exactly ``content_type`` as its ``Content-Type`` header, and
        every one of ``headers`` (signed headers: Cloud Storage refuses the request
        without them)."""
        if not 0 < ttl_s <= MAX_TTL_S:
            raise InvalidInput(
                f"signed URL lifetime must be 1..{MAX_TTL_S} s, not {ttl_s}",
                code=ErrorCode.INVALID_TTL,
            )
        kwargs: dict[str, Any] = {
            "version": "v4",
            "expiration": datetime.timedelta(seconds=ttl_s),
            "method": method,
            "content_type": content_type,
            "headers": dict(headers) if headers else None,
            **self._identity(),
        }
        if self._endpoint:
            kwargs["api_access_endpoint"] = self._endpoint
        with translated(f"signing a {method} URL for gs://{blob.bucket.name}/{blob.name}"):
            return str(blob.generate_signed_url(**kwargs))

    def _identity(self) -> dict[str, Any]:
        creds = self._credentials
        if isinstance(creds, google.auth.credentials.Signing):
            return {"credentials": creds}
        with self._refresh_lock:
            if not creds.valid:
                with translated("refreshing the access token for URL signing"):
                    creds.refresh(google.auth.transport.requests.Request())
            email = getattr(creds, "service_account_email", None)
            if not email or email == "default":
                raise ConfigurationError(
                    "signed URLs need service-account credentials (a key file, or the "
                    f"metadata server on Cloud Run); {type(creds).__name__} has no "
                    "service account email"
                )
            return {"service_account_email": email, "access_token": creds.token}


def emulator_signer(project: str, endpoint: str) -> UrlSigner:
    """A signer with a locally generated key, for fake-gcs-server (which verifies nothing).
    Production signs through IAM signBlob with the service account's token instead."""
    return UrlSigner(_local_credentials(project), endpoint=endpoint)


@cache
def emulator_key(project: str) -> rsa.RSAPrivateKey:
    """The process-local key the emulator signer uses (tests verify URLs with its public
    half, since fake-gcs-server verifies nothing)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def _local_credentials(project: str) -> service_account.Credentials:
    pem = (
        emulator_key(project)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    return service_account.Credentials.from_service_account_info(
        {
            "type": "service_account",
            "project_id": project,
            "private_key_id": "emulator",
            "private_key": pem,
            "client_email": f"cutout-emulator@{project}.iam.gserviceaccount.com",
            "token_uri": "https://oauth2.googleapis.com/token",
        }
    )
