"""An offline check of Cloud Storage V4 signed URLs, for the tests.

fake-gcs-server serves any signed URL without checking it, so nothing on the emulators
would notice a URL that does not bind its method, object, content type or lifetime. This
check is written from Google's documentation of the algorithm ("Signing process for V4
signed URLs", cloud.google.com/storage/docs/access-control/signing-urls-manually), not
from the client library that makes our URLs: the two agreeing is the evidence. It checks
what Cloud Storage would check at ``now``: the algorithm, the signature over the
canonical request, the lifetime (at most 7 days) and the signed headers' presence.
"""

from __future__ import annotations

import binascii
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from cutout.errors import InvalidInput

ALGORITHM = "GOOG4-RSA-SHA256"
MAX_EXPIRES_S = 7 * 24 * 3600
_REQUIRED = (
    "X-Goog-Algorithm",
    "X-Goog-Credential",
    "X-Goog-Date",
    "X-Goog-Expires",
    "X-Goog-SignedHeaders",
    "X-Goog-Signature",
)


def verify(
    url: str,
    method: str,
    *,
    public_key: rsa.RSAPublicKey,
    now: float,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Raise :class:`InvalidInput` if Cloud Storage would refuse ``method`` on ``url``
    sent with ``headers`` at ``now`` (seconds since the epoch)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    if any(name not in query for name in _REQUIRED):
        raise InvalidInput(f"not a V4 signed URL: {url}")
    if query["X-Goog-Algorithm"] != ALGORITHM:
        raise InvalidInput(f"unknown algorithm {query['X-Goog-Algorithm']!r}")
    signed_at = _timestamp(query["X-Goog-Date"])
    expires = _integer(query["X-Goog-Expires"])
    if not 0 < expires <= MAX_EXPIRES_S:
        raise InvalidInput(f"X-Goog-Expires {expires} is outside 1..{MAX_EXPIRES_S}")
    if now > signed_at + expires:
        raise InvalidInput("the URL has expired")

    sent = {"host": parts.netloc, **{k.lower(): v for k, v in (headers or {}).items()}}
    names = query["X-Goog-SignedHeaders"].split(";")
    if "host" not in names or any(name not in sent for name in names):
        raise InvalidInput(f"signed headers {names} are not all sent ({sorted(sent)})")
    canonical_headers = "".join(f"{name}:{' '.join(sent[name].split())}\n" for name in names)

    unsigned = {k: v for k, v in query.items() if k != "X-Goog-Signature"}
    canonical_query = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(unsigned.items()))
    canonical_request = "\n".join(
        [
            method,
            quote(unquote(parts.path), safe="/~"),
            canonical_query,
            canonical_headers,
            query["X-Goog-SignedHeaders"],
            "UNSIGNED-PAYLOAD",
        ]
    )
    credential = query["X-Goog-Credential"].split("/")
    if (
        len(credential) != 5
        or credential[1] != query["X-Goog-Date"][:8]
        or credential[3:] != ["storage", "goog4_request"]
    ):
        raise InvalidInput(f"malformed credential scope {query['X-Goog-Credential']!r}")
    string_to_sign = "\n".join(
        [
            ALGORITHM,
            query["X-Goog-Date"],
            "/".join(credential[1:]),
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    try:
        signature = binascii.unhexlify(query["X-Goog-Signature"])
        public_key.verify(signature, string_to_sign.encode(), padding.PKCS1v15(), hashes.SHA256())
    except (binascii.Error, ValueError, InvalidSignature) as exc:
        raise InvalidInput("the signature does not match the request") from exc


def _encode(value: str) -> str:
    return quote(value, safe="-_.~")


def _timestamp(value: str) -> float:
    try:
        return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError as exc:
        raise InvalidInput(f"malformed X-Goog-Date {value!r}") from exc


def _integer(value: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise InvalidInput(f"malformed X-Goog-Expires {value!r}") from exc
