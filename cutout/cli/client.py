"""``cutout submit`` and ``cutout status``: the HTTP API from the command line.

429 (``rate_limited``) and 503 (``overloaded``) answers that carry ``Retry-After`` are
flow control, not failures: the client waits as told and sends the request again, for
at most ``max_wait_s`` in all per request (``--max-wait``, default 600 s); an answer
without ``Retry-After``, or one that would wait past that, fails as before.

A photo larger than ``direct_above`` bytes (``--direct-upload-above``, default 8 MiB) goes
by direct upload: a one-time URL from ``POST /v1/uploads``, one ``PUT`` of the file with
the headers the answer names, then ``POST /v1/jobs`` with its ``upload_id``. Cloud Run
caps a request body at 32 MiB, so the promised 50 MB photos only arrive this way.
"""

from __future__ import annotations

import json
import mimetypes
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import click
import requests

from cutout.cli.local_key import local_key
from cutout.settings import Settings

POLL_TIMEOUT_S = 600.0
MAX_FLOW_WAIT_S = 600.0
FLOW_CONTROL_STATUSES = frozenset({429, 503})
#: Photos above this many bytes skip ingest's body (well under Cloud Run's 32 MiB cap).
DIRECT_UPLOAD_ABOVE = 8 * 1024 * 1024


def retry_after_s(response: requests.Response) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date); None if absent or bad."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Api:
    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        max_wait_s: float = MAX_FLOW_WAIT_S,
        direct_above: int = DIRECT_UPLOAD_ABOVE,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        if api_key:
            self.session.headers["Authorization"] = f"Bearer {api_key}"
        self.max_wait_s = max_wait_s
        self.direct_above = direct_above
        self._sleep = sleep

    def submit(self, path: Path, fields: dict[str, Any]) -> dict[str, Any]:
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if path.stat().st_size > self.direct_above:
            return self._submit_direct(path, mime, fields)

        def post() -> requests.Response:
            with path.open("rb") as fh:
                return self.session.post(
                    f"{self.base_url}/v1/jobs", files={"file": (path.name, fh, mime)}, data=fields
                )

        return self.body(self._flow_controlled(post, f"submitting {path.name}"))

    def send_photo(
        self, data: bytes, name: str, fields: dict[str, Any], headers: dict[str, str]
    ) -> requests.Response:
        """``POST /v1/jobs`` with the photo's bytes, waiting out flow control; the answer
        as it came (a backfill records a refused item and goes on)."""
        mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
        url = f"{self.base_url}/v1/jobs"

        def post() -> requests.Response:
            files = {"file": (name, data, mime)}
            return self.session.post(url, files=files, data=fields, headers=headers)

        return self._flow_controlled(post, f"submitting {name}")

    def call(self, method: str, path: str) -> requests.Response:
        """Any API request by path, waiting out flow control; the answer as it came."""
        url = f"{self.base_url}{path}"
        return self._flow_controlled(lambda: self.session.request(method, url), path)

    def post_json(self, path: str, body: dict[str, Any]) -> requests.Response:
        """``POST`` a JSON body by path, waiting out flow control; the answer as it came."""
        url = f"{self.base_url}{path}"
        return self._flow_controlled(lambda: self.session.post(url, json=body), path)

    def _submit_direct(self, path: Path, mime: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Upload straight to storage, then make the job from the ``upload_id``."""
        offer = self.body(
            self._flow_controlled(
                lambda: self.session.post(
                    f"{self.base_url}/v1/uploads", params={"content_type": mime}
                ),
                f"asking to upload {path.name}",
            )
        )
        with path.open("rb") as fh:
            # a bare requests call: the URL is signed, our API key must not travel to storage
            put = requests.put(offer["url"], data=fh, headers=offer["headers"], timeout=600)
        if put.status_code >= 400:
            raise click.ClickException(
                f"uploading {path.name}: HTTP {put.status_code}: {put.text[:300]}"
            )
        body = {**fields, "upload_id": offer["upload_id"]}
        return self.body(
            self._flow_controlled(
                lambda: self.session.post(f"{self.base_url}/v1/jobs", json=body),
                f"submitting {path.name}",
            )
        )

    def job(self, job_id: str) -> dict[str, Any]:
        url = f"{self.base_url}/v1/jobs/{job_id}"
        return self.body(self._flow_controlled(lambda: self.session.get(url), f"job {job_id}"))

    def _flow_controlled(
        self, send: Callable[[], requests.Response], what: str
    ) -> requests.Response:
        """Send; while the answer is 429/503 with ``Retry-After``, wait and send again,
        at most ``max_wait_s`` in all. Returns the last answer."""
        waited = 0.0
        while True:
            response = send()
            delay = retry_after_s(response)
            if response.status_code not in FLOW_CONTROL_STATUSES or delay is None:
                return response
            if waited + delay > self.max_wait_s:
                return response
            click.echo(
                f"{what}: HTTP {response.status_code}, waiting {delay:g} s as asked "
                f"({waited:g} of at most {self.max_wait_s:g} s waited)",
                err=True,
            )
            self._sleep(delay)
            waited += delay

    def absolute(self, url: str) -> str:
        """A result URL as given (signed, absolute) or relative to the API."""
        return url if "://" in url else self.base_url + url

    def download(self, url: str, dest: Path) -> None:
        response = self.session.get(self.absolute(url))
        response.raise_for_status()
        dest.write_bytes(response.content)

    def wait(self, job_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + POLL_TIMEOUT_S
        while True:
            job = self.job(job_id)
            if job["state"] in ("done", "failed") or time.monotonic() > deadline:
                return job
            time.sleep(0.5)

    @staticmethod
    def body(response: requests.Response) -> dict[str, Any]:
        """The answer's JSON, or a :class:`click.ClickException` naming its error."""
        try:
            body = response.json()
        except ValueError as exc:
            raise click.ClickException(f"HTTP {response.status_code}: not JSON") from exc
        if response.status_code >= 400:
            error = body.get("error", {})
            raise click.ClickException(
                f"HTTP {response.status_code} {error.get('code')}: {error.get('message')}"
            )
        return body


def open_api(
    settings: Settings,
    url: str | None,
    api_key: str | None,
    max_wait_s: float = MAX_FLOW_WAIT_S,
    direct_above: int = DIRECT_UPLOAD_ABOVE,
) -> Api:
    """Without a key given, the local stack's own key (cli/local_key.py) on loopback."""
    base_url = url or settings.public_url
    key = api_key or local_key(settings, base_url)
    return Api(base_url, key, max_wait_s=max_wait_s, direct_above=direct_above)


_url_option = click.option("--url", help="ingest base URL [default: CUTOUT_PUBLIC_URL]")
key_option = click.option(
    "--api-key",
    envvar="CUTOUT_API_KEY",
    help="[env CUTOUT_API_KEY; default on loopback: the key `cutout up` minted]",
)


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--effects", default="color", show_default=True, help="comma-separated")
@click.option("--params", help='JSON, e.g. {"blackwhite": {"grain": 0.2}}')
@click.option("--format", "fmt", default="png", show_default=True)
@click.option("--priority", default="standard", show_default=True)
@click.option("--batch-id", help="label the jobs as one backfill")
@click.option("--wait/--no-wait", default=False, help="poll until each job finishes")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    help="download the full results here (implies --wait)",
)
@click.option(
    "--renditions",
    type=click.Choice(["display,full", "full"]),
    default="display,full",
    show_default=True,
    help="full: no display rendition (a backfill needs no preview)",
)
@click.option(
    "--max-wait",
    type=click.FloatRange(min=0),
    default=MAX_FLOW_WAIT_S,
    show_default=True,
    help="seconds one request may wait in all on 429/503 Retry-After before failing",
)
@click.option(
    "--direct-upload-above",
    type=click.IntRange(min=0),
    default=DIRECT_UPLOAD_ABOVE,
    show_default=True,
    help="bytes; a larger photo goes by direct upload (Cloud Run caps bodies at 32 MiB)",
)
@_url_option
@key_option
@click.pass_obj
def submit(
    settings: Settings,
    files: tuple[str, ...],
    effects: str,
    params: str | None,
    fmt: str,
    priority: str,
    batch_id: str | None,
    wait: bool,
    out: str | None,
    renditions: str,
    max_wait: float,
    direct_upload_above: int,
    url: str | None,
    api_key: str | None,
) -> None:
    """Submit photos; print one JSON line per job (``displays``: the small display
    renditions; ``results``: the full ones, downloaded by ``--out``). Waits out 429/503
    answers; photos above --direct-upload-above go straight to storage."""
    api = open_api(settings, url, api_key, max_wait, direct_upload_above)
    fields = {"effects": effects, "format": fmt, "priority": priority, "renditions": renditions}
    if params:
        fields["params"] = params
    if batch_id:
        fields["batch_id"] = batch_id
    jobs = [(Path(f), api.submit(Path(f), fields)) for f in files]
    failed = False
    for path, job in jobs:
        if wait or out:
            job = api.wait(job["id"])
        if out and job["state"] == "done":
            dest_dir = Path(out)
            dest_dir.mkdir(parents=True, exist_ok=True)
            for effect, result in job["results"].items():
                dest = dest_dir / f"{path.stem}.{effect}.{result['format']}"
                api.download(result["url"], dest)
                job["results"][effect]["file"] = str(dest)
        failed |= job["state"] == "failed"
        click.echo(json.dumps({"file": str(path), **job}))
    if failed:
        raise SystemExit(1)


@click.command()
@click.argument("job_id")
@_url_option
@key_option
@click.pass_obj
def status(settings: Settings, job_id: str, url: str | None, api_key: str | None) -> None:
    """Print a job as JSON."""
    click.echo(json.dumps(open_api(settings, url, api_key).job(job_id), indent=2))
