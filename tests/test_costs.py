"""The price table and cutout.costs: the built-in table loads, says where each price comes
from, matches the deployed shapes, and costs follow from its prices by their definitions."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from cutout import costs
from cutout.errors import ConfigurationError
from cutout.job import JobState
from cutout.prices import load_prices, prices_for
from cutout.settings import Settings
from tests.support.infra import terraform
from tests.support.records import at, job, life

PRICES = load_prices()
UNTIL = at(3600.0)
assert UNTIL is not None


def test_every_price_names_its_source_and_date_and_unverified_ones_say_why() -> None:
    table = PRICES.prices()
    assert set(table) == {
        "gpu_second",
        "worker_vcpu_second",
        "worker_gib_second",
        "ingest_vcpu_second",
        "ingest_gib_second",
        "ingest_request",
        "pubsub_tib",
        "firestore_read",
        "firestore_write",
        "gcs_class_a",
        "gcs_class_b",
        "gcs_gib_month",
    }
    for name, price in table.items():
        assert "pricing" in price.source, f"{name}: source {price.source!r} names no pricing page"
        assert price.usd > 0, name
        if not price.verified:
            assert len(price.note) >= 20, f"{name} is unverified without saying where it is from"


def test_the_table_describes_the_shapes_terraform_deploys() -> None:
    tf = terraform()
    assert PRICES.worker.vcpu == tf.default("worker_cpu")
    assert PRICES.worker.memory_gib == tf.default("worker_memory_gib")
    assert tf.default("gpu_type") == "nvidia-l4" and PRICES.worker.gpus == 1
    ingest = tf.resource("google_cloud_run_v2_service", "ingest")
    limits = ingest["template"][0]["containers"][0]["resources"][0]["limits"]
    assert float(limits["cpu"]) == PRICES.ingest.vcpu
    assert tf.default("ingest_memory") == f"{PRICES.ingest.memory_gib:g}Gi"
    assert tf.default("uploads_retention_days") == PRICES.uploads_kept_days
    assert tf.default("results_retention_days") == PRICES.results_kept_days


def test_a_table_can_be_overridden_by_path_and_a_bad_one_is_named(tmp_path: Path) -> None:
    built_in = (Path(__file__).parents[1] / "cutout" / "data" / "prices.toml").read_text()
    cheaper = tmp_path / "prices.toml"
    cheaper.write_text(built_in.replace("usd = 0.0001867", "usd = 0.0001"))
    table = prices_for(Settings.model_validate({"price_table": str(cheaper)}))
    assert table.gpu_second.rate == 0.0001
    assert prices_for(Settings.model_validate({})) == PRICES

    incomplete = tmp_path / "incomplete.toml"
    incomplete.write_text(built_in.split("[gcs_gib_month]")[0])
    with pytest.raises(ConfigurationError, match=r"incomplete\.toml.*gcs_gib_month"):
        load_prices(incomplete)
    with pytest.raises(ConfigurationError, match=r"missing\.toml"):
        load_prices(tmp_path / "missing.toml")


def test_worker_cost_is_alive_seconds_at_the_shapes_rate() -> None:
    rate = (
        PRICES.worker.gpus * PRICES.gpu_second.usd / PRICES.gpu_second.per
        + PRICES.worker.vcpu * PRICES.worker_vcpu_second.usd / PRICES.worker_vcpu_second.per
        + PRICES.worker.memory_gib * PRICES.worker_gib_second.usd / PRICES.worker_gib_second.per
    )
    assert costs.worker_usd_per_second(PRICES) == pytest.approx(rate)
    lives = [life("a", started=0.0, ended=100.0), life("b", started=3000.0)]
    assert costs.worker_cost_usd(lives, UNTIL, PRICES) == pytest.approx(rate * (100.0 + 600.0))


def test_a_request_costs_its_ingest_time_operations_messages_and_storage() -> None:
    ingest_s, attempts = 0.23, 2
    j = job(
        queued=0.0,
        started=5.0,
        finished=9.0,
        worker="w",
        attempts=attempts,
        results={"color": 9.0, "outline": 9.0},
        ingest_s=ingest_s,
    )
    p = PRICES
    billed = math.ceil(ingest_s / 0.1) * 0.1
    ingest = p.ingest_request.rate + billed * (
        p.ingest.vcpu * p.ingest_vcpu_second.rate + p.ingest.memory_gib * p.ingest_gib_second.rate
    )
    writes = 1 + attempts + 2 + 1  # create, claims, two results, finish
    reads = attempts + 1  # claims, finish
    firestore = writes * p.firestore_write.rate + reads * p.firestore_read.rate
    pubsub = (1 + attempts) * p.pubsub_min_bytes / 1024**4 * p.pubsub_tib.rate
    gcs_ops = (1 + 2) * p.gcs_class_a.rate + (attempts + 2) * p.gcs_class_b.rate
    stored = (
        j.input.bytes * p.uploads_kept_days + 2 * j.results["color"].bytes * p.results_kept_days
    )
    storage = stored / 1024**3 / (730 / 24) * p.gcs_gib_month.rate
    expected = ingest + firestore + pubsub + gcs_ops + storage
    assert costs.request_cost_usd(j, p) == pytest.approx(expected)


def test_a_cache_hit_sends_no_message_and_costs_less() -> None:
    hit = job(queued=0.0, finished=0.0, results={"color": None})
    queued = job(queued=0.0, started=1.0, finished=2.0, worker="w", results={"color": 2.0})
    assert costs.request_cost_usd(hit, PRICES) < costs.request_cost_usd(queued, PRICES)


def test_per_thousand_and_cost_by_key_add_up_to_the_total() -> None:
    jobs = [
        job(queued=0.0, started=1.0, finished=4.0, worker="a", key="shop", results={"color": 4.0}),
        job(queued=0.0, started=1.0, finished=2.0, worker="a", results={"color": 2.0}),
        job(queued=0.0, started=1.0, finished=2.0, worker="a", state=JobState.FAILED, key="shop"),
    ]
    lives = [life("a", started=0.0, ended=120.0, busy=10.0, served=3), life("b", started=10.0)]
    total = costs.total_cost_usd(jobs, lives, UNTIL, PRICES)
    workers = costs.worker_cost_usd(lives, UNTIL, PRICES)
    requests = {
        k: sum(costs.request_cost_usd(j, PRICES) for j in jobs if j.client.key_id == k)
        for k in ("anonymous", "shop")
    }
    assert total == pytest.approx(workers + sum(requests.values()))
    by_key = costs.cost_by_key(jobs, lives, UNTIL, PRICES)
    served = {"shop": (4.0 - 1.0) + (2.0 - 1.0), "anonymous": 2.0 - 1.0}
    for key, seconds in served.items():
        assert by_key[key] == pytest.approx(
            requests[key] + workers * seconds / sum(served.values())
        )
    assert sum(by_key.values()) == pytest.approx(total)
    assert costs.per_thousand(total, 2) == pytest.approx(1000 * total / 2)
    assert costs.per_thousand(total, 0) is None


def test_idle_workers_cost_is_unattributed_when_nothing_was_served() -> None:
    lives = [life("idle", started=0.0, ended=60.0)]
    by_key = costs.cost_by_key([], lives, UNTIL, PRICES)
    assert by_key == {
        costs.UNATTRIBUTED: pytest.approx(costs.worker_cost_usd(lives, UNTIL, PRICES))
    }
