"""``cutout bench removebg``: what the synchronous remove.bg-compatible endpoint costs
over the asynchronous API, on a running stack (``cutout up``).

Each round sends one photo both ways, in alternating order, with distinct bytes each
time (nothing is served from cache): *async* is ``POST /v1/jobs`` (``color``, png), then
``GET /v1/jobs/{id}`` every ``--poll-ms`` until done, then the result's URL; *sync* is
``POST /v1.0/removebg`` with ``size=full`` and ``format=png`` (the same job). The
overhead is the p50 of the per-round difference sync - async; the last line is JSON.
"""

from __future__ import annotations

import json
import secrets
import statistics
import time

import click
import requests

from cutout.cli.bench_ingest import unique_jpeg
from cutout.cli.local_key import local_key
from cutout.samples import jpeg_bytes, photo_like
from cutout.settings import Settings

ROUND_LIMIT_S = 120


def _async_round(url: str, token: str, photo: bytes, poll_s: float) -> float:
    headers = {"X-API-Key": token}
    started = time.perf_counter()
    response = requests.post(
        f"{url}/v1/jobs",
        files={"file": ("p.jpg", photo, "image/jpeg")},
        headers=headers,
        timeout=60,
    )
    response.raise_for_status()
    job = response.json()
    while job["state"] not in ("done", "failed"):
        if time.perf_counter() - started > ROUND_LIMIT_S:
            raise click.ClickException(f"job {job['id']} not finished in {ROUND_LIMIT_S} s")
        time.sleep(poll_s)
        job = requests.get(f"{url}/v1/jobs/{job['id']}", headers=headers, timeout=60).json()
    if job["state"] != "done":
        raise click.ClickException(f"job {job['id']} failed: {job['error']}")
    requests.get(job["results"]["color"]["url"], timeout=60).raise_for_status()
    return time.perf_counter() - started


def _sync_round(url: str, token: str, photo: bytes) -> float:
    started = time.perf_counter()
    response = requests.post(
        f"{url}/v1.0/removebg",
        files={"image_file": ("p.jpg", photo, "image/jpeg")},
        data={"size": "full", "format": "png"},
        headers={"X-Api-Key": token},
        timeout=120,
    )
    if response.status_code != 200:
        raise click.ClickException(f"removebg answered {response.status_code}: {response.text}")
    return time.perf_counter() - started


@click.command()
@click.option("--url", default="http://127.0.0.1:8080", show_default=True)
@click.option("--rounds", default=10, show_default=True, type=click.IntRange(1, 1000))
@click.option("--poll-ms", default=50, show_default=True, type=click.IntRange(1, 5000))
@click.option("--width", default=640, show_default=True, type=click.IntRange(16, 8000))
@click.pass_obj
def bench_removebg(settings: Settings, url: str, rounds: int, poll_ms: int, width: int) -> None:
    """Synchronous (POST /v1.0/removebg) vs asynchronous (POST /v1/jobs + polling)."""
    url = url.rstrip("/")
    token = local_key(settings, url)
    if token is None:
        raise click.ClickException("no local key: run against `cutout up` on this machine")
    base = jpeg_bytes(photo_like(width, width * 3 // 4))
    extra: list[float] = []
    times: dict[str, list[float]] = {"async": [], "sync": []}
    run = secrets.randbits(40)  # distinct from any earlier run's photos (results are cached)
    for n in range(rounds):
        photos = (unique_jpeg(base, run + 2 * n), unique_jpeg(base, run + 2 * n + 1))
        if n % 2:
            sync_s = _sync_round(url, token, photos[0])
            async_s = _async_round(url, token, photos[1], poll_ms / 1000)
        else:
            async_s = _async_round(url, token, photos[0], poll_ms / 1000)
            sync_s = _sync_round(url, token, photos[1])
        times["async"].append(async_s)
        times["sync"].append(sync_s)
        extra.append(sync_s - async_s)
        click.echo(f"round {n + 1}: async {async_s:.3f} s, sync {sync_s:.3f} s")
    summary = {
        "rounds": rounds,
        "poll_ms": poll_ms,
        "async_p50_s": round(statistics.median(times["async"]), 4),
        "sync_p50_s": round(statistics.median(times["sync"]), 4),
        "overhead_p50_s": round(statistics.median(extra), 4),
    }
    click.echo(json.dumps(summary))
