"""The planner checked against reality: the real local stack (``cutout up``, a segmenter
with known load and batch times, workers exiting after 3 s idle, two at most) runs a
generated trace of 7 bursts of 16 jobs (112 jobs; each burst after the workers have
exited, so each starts workers cold); ``cutout report`` summarises it; ``cutout plan``
replays the same trace with the start-up and service times measured in that run. The
simulated P95 (submitted → done) must be within 25% of the real one, and the visible
cold starts within 25% or ±1. CI time: about 3 minutes (the trace lasts 2.8).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import requests
from click.testing import CliRunner

from cutout.cli.local_key import LOCAL_KEY_FILE
from cutout.cli.main import cli
from cutout.job import Priority, utcnow
from cutout.samples import jpeg_bytes, photo_like
from cutout.settings import Settings
from tests.support.pipeline import Pipeline, run_pipeline
from tests.support.segmenters import child_env
from worker.plan.command import command as plan
from worker.plan.traffic import Arrival, write_trace

pytestmark = pytest.mark.slow

BURSTS, PER_BURST, BURST_S, GAP_S = 7, 16, 4.0, 22.0
#: A start counts as on its way for START_WINDOW_S, even once its worker came and went:
#: shorter than the bursts' spacing, so that each burst can start workers.
START_WINDOW_S = "12"
SETTINGS = {
    "CUTOUT_IDLE_EXIT_S": "3",
    "CUTOUT_MAX_WORKERS": "2",
    "CUTOUT_JOBS_PER_WORKER": "6",
    "CUTOUT_START_WINDOW_S": START_WINDOW_S,
}


def trace() -> list[Arrival]:
    rng = np.random.default_rng(13)
    return sorted(
        Arrival(float(burst * (BURST_S + GAP_S) + t), "job", Priority.STANDARD)
        for burst in range(BURSTS)
        for t in rng.uniform(0, BURST_S, PER_BURST)
    )


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Pipeline]:
    env = {**child_env(tmp_path / "site"), **SETTINGS, "CUTOUT_SEGMENTER": "test-fixed"}
    yield from run_pipeline(tmp_path, env)


def _replay(stack: Pipeline, arrivals: list[Arrival]) -> list[str]:
    token = (stack.data / LOCAL_KEY_FILE).read_text().strip()
    photos = [jpeg_bytes(photo_like(64, 48, seed=i)) for i in range(len(arrivals))]

    def submit(index: int) -> str:
        response = requests.post(
            f"{stack.url}/v1/jobs",
            files={"file": (f"p{index}.jpg", photos[index], "image/jpeg")},
            data={"effects": "color"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    start = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        futures = []
        for index, arrival in enumerate(arrivals):
            time.sleep(max(0.0, start + arrival.at - time.monotonic()))
            futures.append(pool.submit(submit, index))
        return [f.result() for f in futures]


def test_the_planner_predicts_the_real_stack(stack: Pipeline, tmp_path: Path) -> None:
    arrivals = trace()
    write_trace(tmp_path / "trace.csv", arrivals)
    since = utcnow()
    for job_id in _replay(stack, arrivals):
        assert stack.wait_done(job_id)["state"] == "done"
    stack.wait_for(lambda: not stack.workers(), "the workers exit idle", timeout_s=60)
    until = utcnow()
    window = ["--since", since.isoformat(), "--until", until.isoformat()]

    plot = tmp_path / "report.png"
    reported = CliRunner().invoke(
        cli, ["--data-dir", str(stack.data), "report", *window, "--plot", str(plot)]
    )
    assert reported.exit_code == 0, reported.output
    assert plot.stat().st_size > 10_000
    real = json.loads(reported.stdout.splitlines()[-1])
    assert real["jobs"] == len(arrivals) >= 100
    assert real["workers_started"] >= 5 and real["cold_starts"] >= 5, json.dumps(real)[:600]

    settings = Settings(data_dir=stack.data, url_secret="unused")
    options = ["--trace", str(tmp_path / "trace.csv"), "--seeds", "20"]
    options += ["--measured-since", since.isoformat(), "--measured-until", until.isoformat()]
    options += ["--idle-exit-s", "3", "--max-workers", "2", "--jobs-per-worker", "6"]
    options += ["--start-window-s", START_WINDOW_S]
    planned = CliRunner().invoke(plan, options, obj=settings)
    assert planned.exit_code == 0, planned.output
    simulated = json.loads(planned.stdout.splitlines()[-1])["spread"]

    p95_real, p95_sim = real["to_done_s"]["p95"], simulated["p95_s"]["mean"]
    cold_real, cold_sim = real["cold_starts"], simulated["cold_starts"]["mean"]
    report = (
        f"P95 real {p95_real:.2f} s, simulated {p95_sim:.2f} s; cold {cold_real} vs {cold_sim}"
        f"; fleet {json.loads(planned.stdout.splitlines()[-1])['fleet']}"
    )
    print(report)
    assert abs(p95_sim / p95_real - 1) <= 0.25, report
    assert abs(cold_sim - cold_real) <= max(1.0, 0.25 * cold_real), report
