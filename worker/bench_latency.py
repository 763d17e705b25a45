"""``cutout bench latency``: time to the first visible result of a 12 MP photo.

Two parts, both printed, then one JSON line:

- **worker side** (:func:`worker.latency.measure_worker`, also run on the GPU by
  scripts/gpu_bench.py):
  in-process, on the real renderer and local stores: dequeue → decode → segment → display
  rendition stored and recorded → full rendition stored, with the display rendition's
  non-model work (resize, matte at display size, compose, effects, encode, store) as
  wall and process CPU seconds, for ``color`` alone and for the four artistic looks in
  one job, each run twice on fresh stores: the second (a worker's steady state) is
  reported against its budget, the first (which pays the process's one-time costs:
  imports, first allocations, thread pools) beside it;
- **stack** (:func:`measure_stack`): ``cutout up`` on a free port with a fresh data
  directory; a 12 MP photo submitted over HTTP to the cold stack (the job starts the
  worker) and then to the warm one, polled every 20 ms: submit → display rendition,
  submit → full result, and the bytes of each, with the job's recorded segment time and
  (cold) its worker's ready time, start request → model loaded, from the worker's life
  record (the interpreter start and imports count: the job waits for them too), each
  checked against the issue's budget (submit → display ≤ segment + 0.5 s, plus the ready
  time cold).

The segmenter is a setting (``--segmenter``, default ``grabcut``, the weights-free one:
InSPyReNet takes ~15 s a photo on this 2-core machine, which would hide what is measured
here); the output says which ran.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import requests

from cutout.backends import open_backends
from cutout.cli.serve import stop_group
from cutout.job import utcnow
from cutout.samples import jpeg_bytes, photo_like
from cutout.settings import Settings
from worker.latency import ARTISTIC, measure_worker
from worker.segmenters.base import build_segmenter

POLL_S = 0.02
#: What submit → display may take beyond the segmenter (and, cold, the worker's start).
DISPLAY_SLACK_S = 0.5
#: The display rendition's non-model CPU seconds per 12 MP photo: ``color`` alone, and the
#: four artistic looks in one job.
COLOR_CPU_S, ARTISTIC_CPU_S = 0.3, 0.6
#: The stack's anonymous request quota: polling every 20 ms is 3000 requests a minute,
#: which the default (120) answers with 429 after a few seconds.
POLLS_PER_MINUTE = 10_000


def measure_stack(settings: Settings, photos: Sequence[bytes], workdir: Path) -> list[dict]:
    """Each photo submitted in turn to one ``cutout up`` (the first finds no worker)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, **settings.to_env(), "CUTOUT_DATA_DIR": str(workdir / "stack")}
    command = [sys.executable, "-m", "cutout", "up", "--port", str(port)]
    log = (workdir / "up.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                               start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    since = utcnow()
    try:
        _wait_healthy(url, process)
        runs = [_one_job(url, photo, cold=i == 0) for i, photo in enumerate(photos)]
    finally:
        stop_group(process)
        log.close()
    stack = settings.with_overrides(data_dir=workdir / "stack")
    first = min(open_backends(stack).launcher.lives(since, utcnow()), key=lambda life: life.started)
    runs[0]["worker_ready_s"] = _seconds(first.requested or first.started, first.ready)
    return runs


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else round((end - start).total_seconds(), 3)


def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise click.ClickException(f"cutout up exited with status {process.returncode}")
        try:
            if requests.get(f"{url}/healthz", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise click.ClickException("cutout up did not answer within 120 s")


def _one_job(url: str, photo: bytes, *, cold: bool) -> dict[str, Any]:
    started = time.perf_counter()
    answer = requests.post(f"{url}/v1/jobs", files={"file": ("photo.jpg", photo)}, timeout=60)
    answer.raise_for_status()
    job_id = answer.json()["id"]
    seen: dict[str, float] = {}
    job: dict[str, Any] = {}
    while time.perf_counter() - started < 600:
        job = requests.get(f"{url}/v1/jobs/{job_id}", timeout=10).json()
        now = time.perf_counter() - started
        if job["displays"]:
            seen.setdefault("display", now)
        if job["results"]:
            seen.setdefault("full", now)
        if job["state"] in ("done", "failed"):
            break
        time.sleep(POLL_S)
    if job.get("state") != "done":
        raise click.ClickException(f"job {job_id} did not finish: {job.get('error')}")
    worker = job.get("worker") or {}
    return {
        "stack": "cold" if cold else "warm",
        "submit_to_display_s": round(seen["display"], 3),
        "submit_to_full_s": round(seen["full"], 3),
        "display_bytes": job["displays"]["color"]["bytes"],
        "full_bytes": job["results"]["color"]["bytes"],
        "segment_s": job["timings"]["stages"].get("segment"),
        "model_load_s": round(sum(worker.get("startup", {}).values()), 3) if cold else None,
        "worker_ready_s": None,  # the cold job's: its worker's start request → model ready
        "warm_up_s": worker.get("startup", {}).get("warm_up"),
        "model": job["model"],
    }


def _against_budget(run: dict[str, Any]) -> str:
    """The issue's budget for submit → display: segment + 0.5 s warm, plus the worker's
    ready time (start request → model loaded) cold."""
    budget = run["segment_s"] + DISPLAY_SLACK_S + (run["worker_ready_s"] or 0.0)
    verdict = "met" if run["submit_to_display_s"] <= budget else "NOT met"
    return f"budget {budget:.3f} s: {verdict}"


@click.command("latency")
@click.option("--segmenter", default="grabcut", show_default=True, help="segmenter to run")
@click.option("--width", type=click.IntRange(64, 12000), default=4032, show_default=True)
@click.option("--height", type=click.IntRange(64, 12000), default=3024, show_default=True)
@click.option("--stack/--no-stack", default=True, help="also time a local stack over HTTP")
@click.pass_obj
def command(settings: Settings, segmenter: str, width: int, height: int, stack: bool) -> None:
    """Submit → display rendition and → full result, for a 12 MP photo."""
    settings = settings.with_overrides(
        segmenter=segmenter,
        device="cpu",
        autoscale=True,
        quota_anonymous_requests_per_minute=POLLS_PER_MINUTE,
    )
    photos = [jpeg_bytes(photo_like(width, height, seed=seed)) for seed in (3, 4)]
    load = os.getloadavg()
    click.echo(f"{width}x{height} JPEG ({len(photos[0]) / 1e6:.1f} MB), segmenter {segmenter}, "
               f"{os.cpu_count()} CPUs, load {load[0]:.2f} {load[1]:.2f}")  # fmt: skip
    report: dict[str, Any] = {"segmenter": segmenter, "load": round(load[0], 2), "worker": []}
    with tempfile.TemporaryDirectory(prefix="cutout-latency-") as tmp:
        built = build_segmenter(settings.with_overrides(data_dir=Path(tmp) / "worker"))
        for names, cpu_budget in ((("color",), COLOR_CPU_S), (ARTISTIC, ARTISTIC_CPU_S)):
            # each run on its own stores, else the second finds the first one's results
            first, steady = (
                measure_worker(settings.with_overrides(data_dir=Path(tmp) / f"w{i}-{len(names)}"),
                               built, photos[0], names)
                for i in range(2)
            )  # fmt: skip
            steady["first_display_cpu_s"] = first["display_cpu_s"]
            report["worker"].append(steady)
            verdict = "met" if steady["display_cpu_s"] <= cpu_budget else "NOT met"
            click.echo(f"  worker {'+'.join(names)}: display after {steady['to_display_s']} s "
                       f"(display work {steady['display_work_s']} s wall, "
                       f"{steady['display_cpu_s']} s CPU, budget {cpu_budget} s: {verdict}; "
                       f"the process's first such job {first['display_cpu_s']} s CPU), full "
                       f"after {steady['to_full_s']} s; {steady['display_bytes']} / "
                       f"{steady['full_bytes']} bytes")  # fmt: skip
        if stack:
            report["stack"] = measure_stack(settings, photos, Path(tmp))
            for run in report["stack"]:
                click.echo(f"  {run['stack']} stack: display {run['submit_to_display_s']} s, "
                           f"full {run['submit_to_full_s']} s, {run['display_bytes']} / "
                           f"{run['full_bytes']} bytes (segment {run['segment_s']} s, "
                           f"worker ready {run['worker_ready_s']} s after its start "
                           f"request); {_against_budget(run)}")  # fmt: skip
    click.echo(json.dumps(report))
