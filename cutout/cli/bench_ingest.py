"""``cutout bench ingest``: latency and throughput of ``POST /v1/jobs`` on a real ingest
process (functions-framework + gunicorn, local backend, no worker), with a 656 KB JPEG.
Scaling is off: the backlog the bench builds would otherwise start up to ``max_workers``
worker processes on the same CPUs (measured: 4 of them, halving the requests/s).

Every request carries distinct bytes (a JPEG comment with a counter), so each one is a
new upload: hashed, stored, a job created and published — nothing is served from cache.
Each one presents the local secret key (cli/local_key.py, minted as ``cutout up`` does)
and is metered by the quotas, so the numbers include the key check and the quota check.
"""

from __future__ import annotations

import http.client
import json
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import click

from cutout.backends import open_backends
from cutout.cli.local_key import ensure_local_key, local_key
from cutout.cli.serve import child_env, ingest_command, stop_group, wait_ready
from cutout.samples import photo_jpeg_near
from cutout.settings import Settings

AVERAGE_UPLOAD_BYTES = 656 * 1024


def unique_jpeg(base: bytes, n: int) -> bytes:
    """Insert a COM segment after SOI: still a valid JPEG, different bytes per request."""
    comment = f"bench {n}".encode()
    return base[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + base[2:]


def multipart(data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head + data + tail, f"multipart/form-data; boundary={boundary}"


def run_client(
    port: int, token: str, bodies: list[tuple[bytes, str]], latencies: list[float]
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for body, content_type in bodies:
        start = time.perf_counter()
        headers = {"Content-Type": content_type, "Authorization": f"Bearer {token}"}
        conn.request("POST", "/v1/jobs", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 202:
            raise click.ClickException(f"POST /v1/jobs answered {response.status}")
        latencies.append(time.perf_counter() - start)
    conn.close()


def phase(
    port: int, token: str, base: bytes, start: int, requests: int, clients: int
) -> dict[str, float]:
    bodies = [multipart(unique_jpeg(base, start + i)) for i in range(requests)]
    latencies: list[float] = []
    shares = [bodies[i::clients] for i in range(clients)]
    threads = [
        threading.Thread(target=run_client, args=(port, token, s, latencies)) for s in shares
    ]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    if len(latencies) != requests:
        raise click.ClickException("some requests failed; see the log above")
    ordered = sorted(latencies)
    return {
        "clients": clients,
        "requests": requests,
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
        "rps": round(requests / elapsed, 1),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@click.command()
@click.option("--requests", "count", type=int, default=400, show_default=True)
@click.option("--clients", type=int, default=8, show_default=True, help="for the rps phase")
@click.option(
    "--server-workers",
    type=int,
    default=2,
    show_default=True,
    help="gunicorn worker processes (WORKERS)",
)
@click.pass_obj
def bench_ingest(settings: Settings, count: int, clients: int, server_workers: int) -> None:
    """p50/p99 latency (one client) and requests/s (several) of POST /v1/jobs."""
    base = photo_jpeg_near(AVERAGE_UPLOAD_BYTES)
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        run_settings = settings.with_overrides(
            data_dir=Path(tmp),
            public_url=f"http://127.0.0.1:{port}",
            log_level="WARNING",
            autoscale=False,  # ingest alone: workers started by the backlog would share the CPUs
        )
        ensure_local_key(run_settings, open_backends(run_settings).keys)
        token = local_key(run_settings, run_settings.public_url) or ""
        env = {**child_env(run_settings), "WORKERS": str(server_workers)}
        server = subprocess.Popen(
            ingest_command(run_settings, "127.0.0.1", port), env=env, start_new_session=True
        )
        try:
            wait_ready(f"http://127.0.0.1:{port}", server)
            phase(port, token, base, 0, 20, 1)  # warm-up
            latency = phase(port, token, base, 1000, count // 2, 1)
            throughput = phase(port, token, base, 100000, count, clients)
        finally:
            stop_group(server)
    result = {
        "upload_bytes": len(base),
        "server_workers": server_workers,
        "p50_ms": latency["p50_ms"],
        "p99_ms": latency["p99_ms"],
        "rps": throughput["rps"],
        "concurrent_p50_ms": throughput["p50_ms"],
        "concurrent_p99_ms": throughput["p99_ms"],
        "clients": clients,
    }
    click.echo(f"single client: p50 {latency['p50_ms']} ms, p99 {latency['p99_ms']} ms")
    click.echo(
        f"{clients} clients: {throughput['rps']} requests/s, "
        f"p50 {throughput['p50_ms']} ms, p99 {throughput['p99_ms']} ms"
    )
    click.echo(json.dumps(result))
