"""UrlSigner's choice of signing identity. The emulator path (a local key) is proven
against fake-gcs-server in test_gcp_gcs.py; the production path (IAM signBlob with an
access token) needs Google's IAM service, so here the call that would reach it is
replaced by a recorder: this checks which identity is sent, not Google's answer."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, urlsplit

import google.auth.credentials
import google.cloud.storage as storage
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud.storage import _signing

from cutout.errors import ConfigurationError
from cutout.gcp.signing import UrlSigner


class TokenOnlyCredentials(google.auth.credentials.Credentials):
    """Like Cloud Run's metadata-server credentials: a token and an email, no key."""

    def __init__(self, email: str | None) -> None:
        super().__init__()
        self.service_account_email = email
        self.refreshed = 0

    def refresh(self, request: Any) -> None:
        self.refreshed += 1
        self.token = f"token-{self.refreshed}"
        self.expiry = None


def blob() -> storage.Blob:
    client = storage.Client(project="p", credentials=AnonymousCredentials())
    return client.bucket("results-bucket").blob("results/k.png")


def test_token_only_credentials_sign_through_iam(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []

    def recorder(message: str, access_token: str, service_account_email: str, *_: Any) -> bytes:
        calls.append({"token": access_token, "email": service_account_email})
        return base64.b64encode(b"\x01" * 256)

    monkeypatch.setattr(_signing, "_sign_message", recorder)
    credentials = TokenOnlyCredentials("worker@p.iam.gserviceaccount.com")
    signer = UrlSigner(credentials)
    url = signer.sign(blob(), method="GET", ttl_s=60)
    signer.sign(blob(), method="GET", ttl_s=60)
    assert calls == [{"token": "token-1", "email": "worker@p.iam.gserviceaccount.com"}] * 2
    assert credentials.refreshed == 1  # refreshed once, then reused while valid
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc) == ("https", "storage.googleapis.com")
    assert parse_qs(parts.query)["X-Goog-Credential"][0].startswith("worker@p.iam")


def test_credentials_without_a_service_account_are_a_configuration_error() -> None:
    signer = UrlSigner(TokenOnlyCredentials(None))
    with pytest.raises(ConfigurationError, match="service-account credentials"):
        signer.sign(blob(), method="GET", ttl_s=60)
