"""ingest/fetch.py: a stranger's URL is fetched only from public addresses, checked after
resolution and on every redirect, connected to the address that was checked, within a
size and a time cap, and sniffed like an upload.

No test here connects to a private range: the resolver and the connect hook are
injected (a connection is a socketpair answered by a thread), and the size and time
cases run a real server on loopback with a test-only allowlist."""

from __future__ import annotations

import http.server
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from cutout.samples import jpeg_bytes, photo_like
from cutout.settings import Settings
from ingest.fetch import FetchCodes, Fetcher, FetchRefused

CODES = FetchCodes(invalid="invalid_image_url", failed="failed_image_download")
PUBLIC = "93.184.216.34"
PHOTO = jpeg_bytes(photo_like(40, 30))
REFUSED = [
    "127.0.0.1",
    "127.1.2.3",
    "::1",
    "::ffff:127.0.0.1",
    "0.0.0.0",
    "::",
    "10.0.0.1",
    "10.255.255.255",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.1",
    "100.64.0.1",
    "100.127.255.254",
    "169.254.169.254",
    "fd00:ec2::254",
    "fe80::1",
    "224.0.0.1",
    "240.0.0.1",
    "2002:7f00:1::",  # 6to4 around 127.0.0.1
]


class FakeNet:
    """A resolver and a connect hook: names map to addresses, and a connection to
    ``PUBLIC`` is answered with the next canned response (a thread on a socketpair)."""

    def __init__(self, names: dict[str, list[str]], responses: list[bytes]) -> None:
        self.names = names
        self.responses = list(responses)
        self.connected: list[str] = []
        self.requests: list[bytes] = []

    def resolve(self, host: str, port: int) -> list[str]:
        return self.names[host]

    def connect(self, address: str, port: int, timeout_s: float) -> socket.socket:
        self.connected.append(address)
        assert address == PUBLIC, f"connected to {address}"
        ours, theirs = socket.socketpair()
        threading.Thread(target=self._answer, args=(theirs,), daemon=True).start()
        return ours

    def _answer(self, sock: socket.socket) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            request += sock.recv(4096)
        self.requests.append(request)
        sock.sendall(self.responses.pop(0))
        sock.close()


def fetcher(net: FakeNet, **kw: Any) -> Fetcher:
    options: dict[str, Any] = {
        "allow_http": True,
        "max_bytes": 1_000_000,
        "timeout_s": 5.0,
        "max_redirects": 3,
        "max_pixels": 1_000_000,
        **kw,
    }
    return Fetcher(resolver=net.resolve, connector=net.connect, **options)


def ok(body: bytes = PHOTO) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def redirect(to: str) -> bytes:
    return f"HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n".encode()


@pytest.mark.parametrize("address", REFUSED)
def test_a_name_resolving_to_a_non_public_address_is_refused_before_connecting(
    address: str,
) -> None:
    net = FakeNet({"evil.example": [address]}, [])
    with pytest.raises(FetchRefused) as refused:
        fetcher(net).fetch_image("https://evil.example/cat.jpg", CODES)
    assert refused.value.code == "failed_image_download"
    assert str(ipaddress.ip_address(address)) in refused.value.message
    assert net.connected == []


@pytest.mark.parametrize("address", REFUSED)
def test_a_redirect_to_a_non_public_address_is_refused(address: str) -> None:
    net = FakeNet(
        {"shop.example": [PUBLIC], "evil.example": [address]},
        [redirect("http://evil.example/latest/meta-data/")],
    )
    with pytest.raises(FetchRefused) as refused:
        fetcher(net).fetch_image("http://shop.example/cat.jpg", CODES)
    assert refused.value.code == "failed_image_download"
    assert net.connected == [PUBLIC]


@pytest.mark.parametrize("address", ["127.0.0.1", "169.254.169.254", "10.0.0.1"])
def test_an_ip_literal_url_is_checked_like_a_name(address: str) -> None:
    host = f"[{address}]" if ":" in address else address
    net = FakeNet({address: [address]}, [])
    with pytest.raises(FetchRefused):
        fetcher(net).fetch_image(f"http://{host}/cat.jpg", CODES)
    assert net.connected == []


def test_one_private_answer_among_public_ones_is_refused() -> None:
    net = FakeNet({"mixed.example": [PUBLIC, "10.0.0.7"]}, [])
    with pytest.raises(FetchRefused, match=r"10\.0\.0\.7"):
        fetcher(net).fetch_image("https://mixed.example/cat.jpg", CODES)
    assert net.connected == []


def test_the_connection_goes_to_the_checked_address_so_rebinding_fails() -> None:
    """The name would resolve to loopback the second time; it is never asked again: the
    socket opens to the checked address and the name travels as Host."""
    answers = iter([[PUBLIC], ["127.0.0.1"]])
    net = FakeNet({}, [ok()])
    net.resolve = lambda host, port: next(answers)  # type: ignore[method-assign]
    assert fetcher(net).fetch_image("http://rebind.example:8080/cat.jpg", CODES) == PHOTO
    assert net.connected == [PUBLIC]
    assert b"Host: rebind.example:8080\r\n" in net.requests[0]


def test_redirects_are_followed_within_the_bound() -> None:
    net = FakeNet({"a.example": [PUBLIC]}, [redirect("/b"), redirect("/c"), ok()])
    assert fetcher(net).fetch_image("http://a.example/a", CODES) == PHOTO
    loop = FakeNet({"a.example": [PUBLIC]}, [redirect("/a")] * 5)
    with pytest.raises(FetchRefused, match="redirects"):
        fetcher(loop, max_redirects=2).fetch_image("http://a.example/a", CODES)


@pytest.mark.parametrize(
    "url",
    ["ftp://a.example/x.jpg", "file:///etc/passwd", "https://user:pw@a.example/x.jpg", "nonsense"],
)
def test_urls_that_are_not_acceptable_are_invalid(url: str) -> None:
    net = FakeNet({"a.example": [PUBLIC]}, [])
    with pytest.raises(FetchRefused) as refused:
        fetcher(net).fetch_image(url, CODES)
    assert refused.value.code == "invalid_image_url"


def test_plain_http_is_refused_unless_configured(settings: Settings) -> None:
    net = FakeNet({"a.example": [PUBLIC]}, [])
    with pytest.raises(FetchRefused) as refused:
        fetcher(net, allow_http=False).fetch_image("http://a.example/x.jpg", CODES)
    assert refused.value.code == "invalid_image_url"
    assert Fetcher.for_settings(settings).allow_http is False


def test_content_is_sniffed_like_an_upload() -> None:
    net = FakeNet({"a.example": [PUBLIC]}, [ok(b"<html>not an image</html>")])
    with pytest.raises(FetchRefused, match="image"):
        fetcher(net).fetch_image("http://a.example/x.jpg", CODES)


def test_an_error_status_is_a_failed_download() -> None:
    net = FakeNet({"a.example": [PUBLIC]}, [b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"])
    with pytest.raises(FetchRefused, match="404"):
        fetcher(net).fetch_image("http://a.example/x.jpg", CODES)


# -- a real server on loopback ------------------------------------------------------------


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.hits += 1  # type: ignore[attr-defined]
        if self.path == "/big":
            self.send_response(200)
            self.send_header("Content-Length", str(5000))
            self.end_headers()
            self.wfile.write(b"x" * 5000)
        elif self.path == "/big-undeclared":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"x" * 5000)
            self.close_connection = True
        elif self.path == "/slow":
            self.send_response(200)
            self.end_headers()
            for _ in range(40):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.1)
        else:
            self.send_response(200)
            self.send_header("Content-Length", str(len(PHOTO)))
            self.end_headers()
            self.wfile.write(PHOTO)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[http.server.ThreadingHTTPServer]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.hits = 0  # type: ignore[attr-defined]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def loopback_fetcher(**kw: Any) -> Fetcher:
    options: dict[str, Any] = {
        "allow_http": True,
        "max_bytes": 1000,
        "timeout_s": 1.0,
        "max_redirects": 0,
        "max_pixels": 1_000_000,
        **kw,
    }
    return Fetcher(allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),), **options)


def url(server: http.server.ThreadingHTTPServer, path: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def test_the_default_refuses_loopback(
    server: http.server.ThreadingHTTPServer, settings: Settings
) -> None:
    default = Fetcher.for_settings(settings.with_overrides(fetch_allow_http=True))
    with pytest.raises(FetchRefused, match="loopback"):
        default.fetch_image(url(server, "/photo"), CODES)
    assert server.hits == 0  # type: ignore[attr-defined]


def test_an_allowlisted_loopback_server_serves_a_photo(
    server: http.server.ThreadingHTTPServer,
) -> None:
    assert loopback_fetcher(max_bytes=100_000).fetch_image(url(server, "/photo"), CODES) == PHOTO


@pytest.mark.parametrize("path", ["/big", "/big-undeclared"])
def test_an_oversized_answer_is_refused(server: http.server.ThreadingHTTPServer, path: str) -> None:
    with pytest.raises(FetchRefused, match="1000 byte limit"):
        loopback_fetcher().fetch_image(url(server, path), CODES)


def test_a_slow_server_is_cut_off_at_the_time_cap(server: http.server.ThreadingHTTPServer) -> None:
    started = time.monotonic()
    with pytest.raises(FetchRefused, match="took over"):
        loopback_fetcher(timeout_s=0.5).fetch_image(url(server, "/slow"), CODES)
    assert time.monotonic() - started < 3.5  # the server would take 4 s
