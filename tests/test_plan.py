"""The planner: deterministic for a seed, driven by the project's own rules (changing a
rule changes the simulation), sweeps recommend the cheapest setting meeting the target,
the legacy scenario lands near the old service's measured P95, traces round-trip, and
parameters are learnt from records."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cutout.errors import InvalidInput
from cutout.job import Priority
from cutout.prices import load_prices
from cutout.settings import Settings
from tests.support.records import T0, job, life
from worker import rules
from worker.plan.command import command
from worker.plan.legacy import MEASURED
from worker.plan.measure import measured_fleet, service_fit, startup_samples
from worker.plan.runs import legacy, simulate, sweep
from worker.plan.sim import Fleet, Simulation, Startup
from worker.plan.traffic import Arrival, Burst, Traffic, read_trace, write_trace

PRICES = load_prices()
FLEET = Fleet(Startup((10.0,), (2.0, 4.0)), service_base_s=1.0, service_per_image_s=0.5)
TRAFFIC = Traffic({Priority.STANDARD: 30.0, Priority.BATCH: 10.0}, hours=2.0)


def test_a_seed_fixes_the_run_and_another_seed_changes_it() -> None:
    first = simulate(FLEET, TRAFFIC, 3, PRICES)
    assert simulate(FLEET, TRAFFIC, 3, PRICES) == first
    assert simulate(FLEET, TRAFFIC, 4, PRICES) != first
    assert first["jobs"] > 40 and first["photos"] == first["jobs"]


def test_the_workers_follow_the_real_idle_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    arrivals = [Arrival(0.0), Arrival(600.0)]
    run = Simulation(FLEET, arrivals, 0).run()
    assert len(run.workers) == 2  # exited idle after 60 s: the second job starts another
    monkeypatch.setattr(rules, "should_exit_idle", lambda *args: False)
    run = Simulation(FLEET, arrivals, 0).run()
    assert len(run.workers) == 1 and run.workers[0].ended is None


def test_a_batch_is_prepared_then_waits_for_the_model_then_renders_job_after_job() -> None:
    """As worker/batch.py runs it: decode (overlapping the model load), the device, then
    each job rendered in turn."""
    fleet = dataclasses.replace(FLEET, startup=Startup((10.0,), (2.0,)), prepare_s=0.5)
    fleet = dataclasses.replace(fleet, render_s=0.25)
    run = Simulation(fleet, [Arrival(0.0), Arrival(0.0)], 0).run()
    # started 10, ready 12 (the 0.5 s of decoding hides in the load), device 1 + 2 x 0.5
    assert [j.finished for j in run.jobs] == [pytest.approx(14.25), pytest.approx(14.5)]
    late = Simulation(fleet, [Arrival(0.0), Arrival(20.0)], 0).run()
    # warm and idle: a lone job goes at once (no batch window), and no model load
    assert late.jobs[1].finished == pytest.approx(20.0 + 0.5 + 1.5 + 0.25)


def test_scaling_follows_the_policy_and_its_cap() -> None:
    burst = [Arrival(i * 0.01) for i in range(200)]
    run = Simulation(FLEET, burst, 0).run()
    assert len(run.workers) == FLEET.max_workers  # 200/16 wanted, capped
    assert all(j.finished is not None for j in run.jobs)
    assert max(w.jobs_served for w in run.workers) <= 200


def test_traffic_has_its_rates_profile_bursts_and_warms() -> None:
    flat = Traffic({Priority.STANDARD: 60.0}, hours=10.0, warm_share=0.5, warm_lead_s=30)
    arrivals = flat.arrivals(np.random.default_rng(0))
    jobs = [a for a in arrivals if a.kind == "job"]
    warms = [a for a in arrivals if a.kind == "warm"]
    assert 500 < len(jobs) < 700 and 0.4 < len(warms) / len(jobs) < 0.6
    night = (0.0,) * 12 + (1.0,) * 12
    busy = Traffic(
        {Priority.STANDARD: 60.0},
        hours=24.0,
        daily_profile=night,
        bursts=(Burst(18.0, 60.0, 10.0),),
    )
    times = [a.at / 3600 for a in busy.arrivals(np.random.default_rng(0))]
    assert not [t for t in times if t < 12]
    assert sum(18 <= t < 19 for t in times) > 5 * sum(13 <= t < 14 for t in times)


def test_a_trace_round_trips_and_a_bad_one_is_refused(tmp_path: Path) -> None:
    arrivals = [Arrival(1.5), Arrival(2.0, "warm"), Arrival(3.0, "job", Priority.HIGH)]
    write_trace(tmp_path / "t.csv", arrivals)
    assert read_trace(tmp_path / "t.csv") == arrivals
    (tmp_path / "bad.csv").write_text("at_s,kind\n1,photo\n")
    with pytest.raises(InvalidInput, match="photo"):
        read_trace(tmp_path / "bad.csv")


def test_a_sweep_recommends_the_cheapest_setting_that_meets_the_target() -> None:
    result = sweep(
        FLEET,
        TRAFFIC,
        "idle_exit_s",
        ["10", "600", "3600"],
        seeds=3,
        prices=PRICES,
        target_p95_s=1000.0,
    )
    rows = {r["value"]: r for r in result["rows"]}
    cheapest = min(rows.values(), key=lambda r: r["cost_per_1000_photos_usd"])
    assert result["recommended"] == cheapest["value"] and cheapest["recommended"]
    strict = sweep(FLEET, TRAFFIC, "idle_exit_s", ["10"], seeds=2, prices=PRICES, target_p95_s=0.1)
    assert strict["recommended"] is None
    with pytest.raises(ValueError, match="unknown setting"):
        sweep(FLEET, TRAFFIC, "colour", ["1"], seeds=1, prices=PRICES)


def test_the_old_design_lands_near_the_measured_p95() -> None:
    result = legacy(100, PRICES)
    assert abs(result["old_p95_vs_measured"]) <= 0.25
    assert result["old"]["p95_s"]["mean"] == pytest.approx(
        MEASURED["p95_s"] * (1 + result["old_p95_vs_measured"])
    )
    ours, old = result["ours"], result["old"]
    assert ours["cost_per_1000_photos_usd"]["mean"] < old["cost_per_1000_photos_usd"]["mean"]


def test_the_command_prints_a_table_a_json_line_and_a_sweep_plot(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, url_secret="x")
    plot = tmp_path / "sweep.png"
    args = ["--scenario", "legacy", "--seeds", "5", "--sweep", "idle_exit_s=60,600"]
    result = CliRunner().invoke(command, [*args, "--plot", str(plot)], obj=settings)
    assert result.exit_code == 0, result.output
    assert "recommended:" in result.stdout
    line = json.loads(result.stdout.splitlines()[-1])
    assert [r["value"] for r in line["rows"]] == ["60", "600"]
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_start_up_and_service_are_learnt_from_records() -> None:
    lives = [life("a", started=10.0, ready=12.5), life("b", started=100.0, ready=103.5)]
    jobs = [job(queued=8.0), job(queued=99.0)]
    for size, took in [(1, 1.5), (2, 2.0), (4, 3.0)]:
        # Claimed → finished includes waiting for another batch's turn on the device:
        # the fit must use the device time (``segment``), not that.
        warm = job(queued=0.0, started=50.0, finished=60.0 + took, worker="a")
        stages = {"batch_size": size, "segment": took, "fetch": 0.1, "decode": 0.2}
        warm.timings.stages.update(stages, render=0.25 * size)
        jobs.append(warm)
    startup = startup_samples(jobs, lives)
    assert startup.ready_s == (2.5, 3.5) and startup.launch_s == (1.5,)
    base, per_image = service_fit(jobs)
    assert base == pytest.approx(1.0) and per_image == pytest.approx(0.5)
    fleet = measured_fleet(FLEET, jobs, lives)
    assert fleet.prepare_s == pytest.approx(0.3)  # fetch + decode (no preview recorded)
    assert fleet.render_s == pytest.approx(0.25 * 7 / 3)
    with pytest.raises(InvalidInput, match="no segmented job"):
        service_fit(jobs[:2])


def test_a_recorded_start_request_beats_the_estimate() -> None:
    """A life that says when its launcher asked for it gives the launch time itself; a
    burst that went on while the worker started would make the estimate too short."""
    asked = life("a", started=10.0, ready=12.5).model_copy(
        update={"requested": T0 + timedelta(seconds=4.0)}
    )
    jobs = [job(queued=4.0), job(queued=9.5)]  # the estimate would say 0.5 s
    assert startup_samples(jobs, [asked]).launch_s == (6.0,)


@pytest.mark.parametrize("option", ["--service-base-s", "--render-s", "--prepare-s"])
def test_a_negative_duration_is_refused_by_name(option: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, url_secret="x")
    result = CliRunner().invoke(command, [option, "-1", "--hours", "1"], obj=settings)
    assert result.exit_code == 2 and option in result.output, result.output
