"""``cutout bench burst``: a stated normal rate, then ten times that for a bounded time,
against a real local stack on loopback (ingest under functions-framework, workers
started on demand with the ``fixed`` segmenter, so the backlog drains in CPU time).

Open loop: requests leave on a fixed schedule whatever the answers, as a crowd of phones
would send them. Each is a new upload (distinct bytes), sent with the local stack's
secret key (its quota, 6000 requests/min, is above the burst), so what refuses work is
load shedding (503 ``overloaded``), or a quota if the rate is pushed past it (429). It
reports accepted (202/200), shed (429/503), 5xx (any other, and requests that got no
answer, counted as 599), refusals without
``Retry-After``, lost jobs (accepted but not finished once the backlog drained or
``--drain-s`` ran out) and ingest's p50/p99, ending with one JSON line.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from cutout.backends import open_backends
from cutout.cli.bench_ingest import free_port, multipart, unique_jpeg
from cutout.cli.local_key import ensure_local_key, local_key
from cutout.cli.serve import child_env, ingest_command, stop_group, wait_ready
from cutout.job import JobState
from cutout.samples import jpeg_bytes, photo_like
from cutout.settings import Settings

SHED_STATUSES = frozenset({429, 503})
SENDERS = 32
FINISHED = frozenset({JobState.DONE, JobState.FAILED})


@dataclass
class Tally:
    """What the answers said; appended to from the sender threads under ``lock``."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    accepted: list[str] = field(default_factory=list)
    shed: int = 0
    server_errors: int = 0
    without_retry_after: int = 0

    def record(self, status: int, seconds: float, headers: Any, body: bytes) -> None:
        with self.lock:
            self.latencies.append(seconds)
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status in (200, 202):
                self.accepted.append(json.loads(body)["id"])
            elif status in SHED_STATUSES:
                self.shed += 1
            elif status >= 500:
                self.server_errors += 1
            if status in SHED_STATUSES and not headers.get("Retry-After"):
                self.without_retry_after += 1


class Sender:
    """Posts a fresh photo per call, each on a new connection: a kept-alive one idle past
    the server's keep-alive (2 s) is closed under the client, which would count as a
    failure of ingest's though no request reached it."""

    def __init__(self, port: int, token: str, tally: Tally) -> None:
        self.port, self.token, self.tally = port, token, tally
        self.base = jpeg_bytes(photo_like(96, 72))

    def post(self, n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        body, content_type = multipart(unique_jpeg(self.base, n))
        headers = {"Content-Type": content_type, "Authorization": f"Bearer {self.token}"}
        start = time.perf_counter()
        try:
            conn.request("POST", "/v1/jobs", body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.tally.record(599, time.perf_counter() - start, {}, b"")  # no answer at all
            return
        finally:
            conn.close()
        self.tally.record(response.status, time.perf_counter() - start, response.headers, data)


def send_at(sender: Sender, pool: ThreadPoolExecutor, rate: float, seconds: float, n0: int) -> int:
    """Schedule ``rate`` posts a second for ``seconds``; returns how many were sent."""
    count = int(rate * seconds)
    began = time.monotonic()
    for i in range(count):
        delay = began + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        pool.submit(sender.post, n0 + i)
    return count


def drain(settings: Settings, job_ids: list[str], timeout_s: float) -> tuple[int, float]:
    """Wait until every accepted job is done or failed, at most ``timeout_s``; returns how
    many are not (lost) and the seconds waited. Reads the status store (loopback only)."""
    status = open_backends(settings).status
    pending = set(job_ids)
    began = time.monotonic()
    while pending and time.monotonic() - began < timeout_s:
        pending = {j for j in pending if status.get(j).state not in FINISHED}
        if pending:
            time.sleep(1.0)
    return len(pending), round(time.monotonic() - began, 1)


def percentile(ordered: list[float], q: float) -> float:
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000, 2)


def _number(name: str, default: float, help: str, minimum: float = 0.0) -> Any:
    return click.option(
        name, type=click.FloatRange(min=minimum), default=default, show_default=True, help=help
    )


@click.command()
@_number("--rate", 5.0, "normal jobs/s; the burst sends 10x this", minimum=0.1)
@_number("--normal-s", 10.0, "seconds at the normal rate")
@_number("--burst-s", 60.0, "seconds at 10x the normal rate")
@_number("--drain-s", 600.0, "the most seconds to wait for the backlog to drain", minimum=1)
@click.pass_obj
def bench_burst(
    settings: Settings, rate: float, normal_s: float, burst_s: float, drain_s: float
) -> None:
    """Normal rate, then 10x for --burst-s, then the drain: shed, 5xx, lost, p50/p99."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        run = settings.with_overrides(
            data_dir=Path(tmp), public_url=f"http://127.0.0.1:{port}", log_level="WARNING",
            segmenter="fixed", idle_exit_s=5.0, batch_wait_ms=20,
        )  # fmt: skip
        ensure_local_key(run, open_backends(run).keys)
        token = local_key(run, run.public_url)
        assert token is not None
        server = subprocess.Popen(
            ingest_command(run, "127.0.0.1", port), env=child_env(run), start_new_session=True
        )
        tally = Tally()
        try:
            wait_ready(run.public_url, server)
            sender = Sender(port, token, tally)
            with ThreadPoolExecutor(SENDERS) as pool:
                sent = send_at(sender, pool, rate, normal_s, 0)
                sent += send_at(sender, pool, rate * 10, burst_s, sent)
            lost, drained_s = drain(run, tally.accepted, drain_s)
        finally:
            stop_group(server)
    ordered = sorted(tally.latencies)
    result = {
        "normal_rate": rate, "burst_rate": rate * 10, "normal_s": normal_s,
        "burst_s": burst_s, "sent": sent, "accepted": len(tally.accepted),
        "shed": tally.shed, "server_errors_5xx": tally.server_errors,
        "refused_without_retry_after": tally.without_retry_after, "lost": lost,
        "drain_s": drained_s, "ingest_p50_ms": percentile(ordered, 0.5) if ordered else None,
        "ingest_p99_ms": percentile(ordered, 0.99) if ordered else None,
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
    }  # fmt: skip
    click.echo(
        f"{sent} sent ({rate:g}/s for {normal_s:g} s, {rate * 10:g}/s for {burst_s:g} s): "
        f"{result['accepted']} accepted, {tally.shed} shed, {tally.server_errors} 5xx, "
        f"{lost} lost after {drained_s} s of drain; ingest p50 {result['ingest_p50_ms']} ms, "
        f"p99 {result['ingest_p99_ms']} ms"
    )
    click.echo(json.dumps(result))
