"""``cutout submit`` treats 429/503 with Retry-After as flow control: against a tiny real
HTTP server on 127.0.0.1 that answers as scripted."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from cutout.cli.client import retry_after_s
from cutout.cli.main import cli

JOB: dict[str, object] = {"id": "j1", "state": "queued", "results": {}}
Answer = tuple[int, dict[str, str], dict[str, object]]


class ScriptedApi:
    """Answers ``POST /v1/jobs`` with the scripted (status, headers, body) in turn."""

    def __init__(self, answers: list[Answer]) -> None:
        self.answers = answers
        self.posts: list[float] = []
        script = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                script.posts.append(time.monotonic())
                status, headers, body = script.answers.pop(0)
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {**headers, "Content-Type": "application/json"}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


Serve = Callable[[list[Answer]], ScriptedApi]


@pytest.fixture
def serve() -> Iterator[Serve]:
    started: list[ScriptedApi] = []

    def start(answers: list[Answer]) -> ScriptedApi:
        api = ScriptedApi(answers)
        threading.Thread(target=api.server.serve_forever, daemon=True).start()
        started.append(api)
        return api

    yield start
    for api in started:
        api.server.shutdown()
        api.server.server_close()


def _error(code: str) -> dict[str, object]:
    return {"error": {"code": code, "message": f"{code} (scripted)"}}


def _submit(tmp_path: Path, url: str, *extra: str) -> tuple[int, str, str]:
    photo = tmp_path / "pet.jpg"
    photo.write_bytes(b"\xff\xd8 not really a jpeg")
    result = CliRunner().invoke(cli, ["submit", str(photo), "--url", url, *extra])
    return result.exit_code, result.stdout, result.stderr


def test_submit_waits_out_a_429_and_succeeds(serve: Serve, tmp_path: Path) -> None:
    api = serve(
        [
            (429, {"Retry-After": "1", "X-RateLimit-Remaining": "0"}, _error("rate_limited")),
            (202, {}, JOB),
        ]
    )
    code, out, err = _submit(tmp_path, api.url)
    assert code == 0, err
    assert json.loads(out)["id"] == "j1"
    assert len(api.posts) == 2
    assert api.posts[1] - api.posts[0] >= 0.95  # it waited as asked
    assert "HTTP 429, waiting 1 s as asked" in err


def test_submit_waits_out_a_503_overloaded(serve: Serve, tmp_path: Path) -> None:
    api = serve([(503, {"Retry-After": "0"}, _error("overloaded")), (202, {}, JOB)])
    code, out, err = _submit(tmp_path, api.url)
    assert code == 0, err
    assert json.loads(out)["id"] == "j1"
    assert len(api.posts) == 2 and "HTTP 503" in err


def test_submit_fails_when_the_wait_would_pass_max_wait(serve: Serve, tmp_path: Path) -> None:
    api = serve([(429, {"Retry-After": "30"}, _error("rate_limited"))])
    code, _, err = _submit(tmp_path, api.url, "--max-wait", "5")
    assert code == 1
    assert "HTTP 429 rate_limited" in err
    assert len(api.posts) == 1


def test_submit_fails_on_a_429_without_retry_after(serve: Serve, tmp_path: Path) -> None:
    api = serve([(429, {}, _error("rate_limited"))])
    code, _, err = _submit(tmp_path, api.url)
    assert code == 1 and "HTTP 429 rate_limited" in err and len(api.posts) == 1


def test_retry_after_reads_seconds_and_http_dates() -> None:
    def answer(value: str | None) -> requests.Response:
        response = requests.Response()
        if value is not None:
            response.headers["Retry-After"] = value
        return response

    assert retry_after_s(answer("7")) == 7.0
    assert retry_after_s(answer(None)) is None
    assert retry_after_s(answer("soon")) is None
    in_a_minute = retry_after_s(answer(formatdate(time.time() + 60, usegmt=True)))
    assert in_a_minute is not None and 55 <= in_a_minute <= 61
