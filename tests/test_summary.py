"""cutout.summary gathers every metric under fixed keys, per tier and per key, computed by
the one definition of each (cutout.metrics, cutout.costs), and is JSON-ready."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from cutout import costs, metrics
from cutout.prices import load_prices
from cutout.summary import summarize
from tests.support.records import at, life, sample

PRICES = load_prices()
UNTIL = at(3600.0)
assert UNTIL is not None


def test_the_summary_is_the_definitions_applied_to_the_records() -> None:
    jobs, lives = sample()
    summary = summarize(jobs, lives, until=UNTIL, prices=PRICES, requests=10)
    json.dumps(summary)  # JSON-ready

    done = metrics.Distribution.of(metrics.seconds_to_done(j) for j in jobs)
    assert summary["to_done_s"] == asdict(done)
    assert summary["cold_starts"] == metrics.visible_cold_starts(jobs, lives) == 1
    assert summary["workers_started"] == 2
    assert summary["idle_worker_share"] == pytest.approx(1 / 2)
    assert summary["busy_share"] == pytest.approx(30.0 / (400.0 + 200.0))
    total = costs.total_cost_usd(jobs, lives, UNTIL, PRICES)
    assert summary["cost_usd"] == pytest.approx(total)
    assert summary["cost_per_1000_photos_usd"] == pytest.approx(1000 * total / 3)
    assert summary["cost_per_1000_requests_usd"] == pytest.approx(1000 * total / 10)
    assert summary["errors_by_code"] == {"image_corrupt": 1}
    assert summary["cache_hit_rate"] == pytest.approx(1 / 4)

    assert list(summary["tiers"]) == ["high", "standard", "batch"]
    assert summary["tiers"]["high"]["jobs"] == 1
    assert summary["tiers"]["high"]["cold_start_share"] == 1.0
    assert summary["tiers"]["standard"]["to_done_s"]["count"] == 2
    assert set(summary["keys"]) == {"anonymous", "shop"}
    assert summary["keys"]["shop"]["jobs"] == 2
    assert sum(k["cost_usd"] for k in summary["keys"].values()) == pytest.approx(total)


def test_idle_worker_cost_appears_under_unattributed_when_nobody_was_served() -> None:
    summary = summarize([], [life("idle", started=0.0, ended=60.0)], until=UNTIL, prices=PRICES)
    assert summary["requests"] == 0 and summary["cost_per_1000_requests_usd"] is None
    assert set(summary["keys"]) == {costs.UNATTRIBUTED}
    assert summary["tiers"]["high"]["to_done_s"]["p95"] is None
