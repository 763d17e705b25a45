"""Fetching an image from a URL a stranger gave us (``image_url``, ``bg_image_url``).

The server-side request is the attack surface (SSRF), so every rule is here, once:

- ``https`` only (plain ``http`` only with ``fetch_allow_http``); no credentials in URLs;
- the host is resolved, and *every* address it resolves to must be public (not private,
  loopback, link-local — the metadata server 169.254.169.254 is link-local —, carrier-
  grade NAT 100.64/10, unspecified, multicast or reserved; IPv4-mapped, 6to4 and Teredo
  IPv6 are judged by the IPv4 address inside);
- the connection goes to the very address that was checked (the socket is opened to the
  IP; the name travels only as ``Host`` and TLS SNI, and the certificate is verified
  against it), so a second DNS answer (rebinding) is never consulted;
- redirects are followed at most ``max_redirects`` times, each one checked as above;
- one deadline for the whole fetch, redirects included, and a size cap (a declared
  ``Content-Length`` over it is refused before the body is read);
- the bytes are sniffed like any upload (:func:`cutout.imaging.inspect_image`).

Each refusal is a :class:`FetchRefused` (an :class:`InvalidInput`, so a 400) whose
``code`` is the caller's: one for a URL that is not acceptable, one for a download that
failed. Tests inject the resolver and the connect hook, so no test connects anywhere it
should not; ``allowed_networks`` is a test-only allowlist (the slow and oversized server
cases run on loopback).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from cutout.errors import InvalidInput
from cutout.imaging import inspect_image
from cutout.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: ``(host, port) -> addresses``; the default asks the system resolver.
Resolver = Callable[[str, int], Sequence[str]]
#: ``(address, port, timeout_s) -> a connected socket``: the one place a socket opens.
Connector = Callable[[str, int, float], socket.socket]

REDIRECTS = (301, 302, 303, 307, 308)
CHUNK = 64 * 1024
USER_AGENT = "cutout-fetch/1"


class FetchRefused(InvalidInput):
    """A URL we will not fetch, or a download that failed; ``code`` is the caller's."""


@dataclass(frozen=True)
class FetchCodes:
    invalid: str  # the URL itself is not acceptable (scheme, syntax, credentials)
    failed: str  # resolving, an address refused, the server, the size or the time


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def system_connector(address: str, port: int, timeout_s: float) -> socket.socket:
    return socket.create_connection((address, port), timeout=timeout_s)


def refusal(address: IPAddress) -> str | None:
    """Why ``address`` may not be fetched from, or ``None`` when it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if embedded is not None:
            return refusal(embedded)
    for reason, test in (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local (cloud metadata)", address.is_link_local),
        ("multicast", address.is_multicast),
        ("carrier-grade NAT", address in ipaddress.ip_network("100.64.0.0/10")),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("not globally routable", not address.is_global),
    ):
        if test:
            return reason
    return None


@dataclass(frozen=True)
class Fetcher:
    allow_http: bool
    max_bytes: int
    timeout_s: float
    max_redirects: int
    max_pixels: int
    resolver: Resolver = system_resolver
    connector: Connector = system_connector
    allowed_networks: tuple[IPNetwork, ...] = ()  # test-only: loopback servers
    tls: ssl.SSLContext = field(default_factory=ssl.create_default_context)

    @classmethod
    def for_settings(cls, settings: Settings) -> Fetcher:
        return cls(
            allow_http=settings.fetch_allow_http,
            max_bytes=settings.max_upload_bytes,
            timeout_s=settings.fetch_timeout_s,
            max_redirects=settings.fetch_max_redirects,
            max_pixels=settings.max_pixels,
        )

    def fetch_image(self, url: str, codes: FetchCodes) -> bytes:
        """The image at ``url`` (redirects followed), or a :class:`FetchRefused`."""
        deadline = time.monotonic() + self.timeout_s
        for _ in range(self.max_redirects + 1):
            status, location, body = self._get(url, codes, deadline)
            if status in REDIRECTS and location:
                url = urljoin(url, location)
                continue
            if status != 200:
                raise FetchRefused(f"{url} answered HTTP {status}", code=codes.failed)
            try:
                inspect_image(body, max_pixels=self.max_pixels)
            except InvalidInput as exc:
                raise FetchRefused(f"{url}: {exc.message}", code=codes.failed) from exc
            return body
        raise FetchRefused(
            f"more than {self.max_redirects} redirects, last to {url}", code=codes.failed
        )

    def checked_address(self, host: str, port: int, codes: FetchCodes) -> str:
        """The one address to connect to: every address ``host`` resolves to must pass
        :func:`refusal` (a name with one private answer among public ones is refused)."""
        try:
            answers = [ipaddress.ip_address(a.split("%")[0]) for a in self.resolver(host, port)]
        except (OSError, ValueError) as exc:
            raise FetchRefused(f"cannot resolve {host!r}: {exc}", code=codes.failed) from exc
        if not answers:
            raise FetchRefused(f"{host!r} resolves to no address", code=codes.failed)
        for address in answers:
            if any(address in net for net in self.allowed_networks):
                continue
            reason = refusal(address)
            if reason is not None:
                raise FetchRefused(
                    f"{host!r} resolves to {address}, a {reason} address: not fetched",
                    code=codes.failed,
                )
        return str(answers[0])

    def _get(self, url: str, codes: FetchCodes, deadline: float) -> tuple[int, str, bytes]:
        parts = urlsplit(url)
        schemes = ("https", "http") if self.allow_http else ("https",)
        if parts.scheme not in schemes or not parts.hostname:
            allowed = " or ".join(schemes)
            raise FetchRefused(f"{url!r} is not an {allowed} URL", code=codes.invalid)
        if parts.username or parts.password:
            raise FetchRefused("URLs with credentials are not fetched", code=codes.invalid)
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise FetchRefused(f"{url!r}: {exc}", code=codes.invalid) from exc
        address = self.checked_address(parts.hostname, port, codes)
        conn = _PinnedConnection(self, parts.scheme, parts.hostname, port, address, deadline)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request("GET", path, headers={"User-Agent": USER_AGENT, "Accept": "image/*"})
            response = conn.getresponse()
            if response.status in REDIRECTS:
                return response.status, response.getheader("Location") or "", b""
            return response.status, "", self._read(response, url, codes, deadline)
        except (OSError, http.client.HTTPException) as exc:
            if time.monotonic() >= deadline or isinstance(exc, TimeoutError):
                raise self._too_slow(url, codes) from exc
            raise FetchRefused(f"downloading {url} failed: {exc}", code=codes.failed) from exc
        finally:
            conn.close()

    def _read(
        self, response: http.client.HTTPResponse, url: str, codes: FetchCodes, deadline: float
    ) -> bytes:
        declared = response.getheader("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise self._too_large(url, codes)
        chunks: list[bytes] = []
        size = 0
        while chunk := response.read1(CHUNK):
            size += len(chunk)
            if size > self.max_bytes:
                raise self._too_large(url, codes)
            if time.monotonic() >= deadline:
                raise self._too_slow(url, codes)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, url: str, codes: FetchCodes) -> FetchRefused:
        return FetchRefused(f"{url} is over the {self.max_bytes} byte limit", code=codes.failed)

    def _too_slow(self, url: str, codes: FetchCodes) -> FetchRefused:
        return FetchRefused(f"{url} took over {self.timeout_s:g} s", code=codes.failed)


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to ``address``, the checked one, never to a re-resolved
    name; ``Host`` (set by http.client from ``host``) and SNI carry the name."""

    def __init__(
        self, fetcher: Fetcher, scheme: str, host: str, port: int, address: str, deadline: float
    ) -> None:
        super().__init__(host, port, timeout=max(0.001, deadline - time.monotonic()))
        self._fetcher = fetcher
        self._scheme = scheme
        self._address = address
        self._deadline = deadline

    def connect(self) -> None:
        remaining = max(0.001, self._deadline - time.monotonic())
        sock = self._fetcher.connector(self._address, self.port, remaining)
        sock.settimeout(remaining)
        if self._scheme == "https":
            sock = self._fetcher.tls.wrap_socket(sock, server_hostname=self.host)
        self.sock = sock
