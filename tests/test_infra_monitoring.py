"""Static checks of the monitoring Terraform (infra/monitoring.tf, alerts.tf, dashboard.tf),
parsed with python-hcl2: the log-based metrics are scoped to our services, the five alerts
of the old service's analysis and the two the queue needs exist with their thresholds as
variables, every query names only metrics that are declared, the dashboard renders to
JSON and shows every metric, and the budget is optional. The queries themselves cannot
run without a real project (infra/README.md); the fields they read are checked against
real log records in tests/test_log_fields.py."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from cutout.costs import worker_usd_per_second
from cutout.prices import load_prices
from tests.support import log_filters
from tests.support.infra import INFRA, block, ref, terraform

TIERS = ["high", "standard", "batch"]
PROMQL_METRIC = re.compile(r"logging_googleapis_com:user_cutout_(\w+)")
DASHBOARD = INFRA / "dashboard.json.tftpl"
#: What dashboard.tf passes to the template, with the default names.
TEMPLATE_VALUES = {
    "name_prefix": "cutout",
    "promql_prefix": "logging_googleapis_com:user_cutout",
    "worker_usd_per_second": "0.0002907",
}


def _metrics() -> dict[str, dict[str, Any]]:
    """infra/monitoring.tf's local.log_metrics: name → description, filter, value, labels."""
    metrics: dict[str, dict[str, Any]] = terraform().locals["log_metrics"]
    return metrics


def _policies() -> dict[str, dict[str, Any]]:
    return terraform().of_type("google_monitoring_alert_policy")


def _conditions(policy: str) -> list[dict[str, Any]]:
    conditions: list[dict[str, Any]] = _policies()[policy]["conditions"]
    return conditions


def _promql(policy: str) -> list[str]:
    tf = terraform()
    return [
        log_filters.expand(tf, block(c, "condition_prometheus_query_language")["query"])
        for c in _conditions(policy)
        if "condition_prometheus_query_language" in c
    ]


def _declared_metric(name: str) -> str:
    """A PromQL metric name without the histogram suffixes Cloud Monitoring adds."""
    return re.sub(r"_(sum|count|bucket)$", "", name)


# ---- log-based metrics ----------------------------------------------------------------


def test_one_resource_declares_every_metric_under_the_folded_prefix() -> None:
    tf = terraform()
    assert tf.locals["metric_prefix"] == '${replace(var.name_prefix, "-", "_")}'
    assert set(tf.of_type("google_logging_metric")) == {"cutout"}
    resource = tf.resource("google_logging_metric", "cutout")
    assert ref(resource["for_each"]) == "local.log_metrics"
    assert resource["name"] == "${local.metric_prefix}_${each.key}"
    assert ref(resource["filter"]) == "each.value.filter"


def test_every_metric_counts_only_our_worker_or_ingest_logs() -> None:
    tf = terraform()
    for name, body in _metrics().items():
        parsed = log_filters.parse(log_filters.expand(tf, body["filter"]))
        for alternative in _flatten(parsed):
            paths = {(c.path, c.value) for c in alternative if c.op == "="}
            worker = {
                ("resource.type", "cloud_run_job"),
                ("resource.labels.job_name", "cutout-worker"),
            }
            ingest = {
                ("resource.type", "cloud_run_revision"),
                ("resource.labels.service_name", "cutout-ingest"),
            }
            assert worker <= paths or ingest <= paths, f"{name} reads logs of anything: {paths}"
            assert any(p == "jsonPayload.event" for p, _ in paths), f"{name} names no event"


def _flatten(parsed: log_filters.Filter) -> list[list[log_filters.Comparison]]:
    """The filter as OR of ANDs of comparisons (nested parentheses distributed)."""
    result: list[list[log_filters.Comparison]] = []
    for alternative in parsed.alternatives:
        branches: list[list[log_filters.Comparison]] = [[]]
        for item in alternative:
            if isinstance(item, log_filters.Filter):
                branches = [b + sub for b in branches for sub in _flatten(item)]
            else:
                branches = [[*b, item] for b in branches]
        result += branches
    return result


def test_a_metric_with_a_value_is_a_distribution_of_seconds_and_the_rest_count() -> None:
    resource = terraform().resource("google_logging_metric", "cutout")
    descriptor = block(resource, "metric_descriptor")
    assert descriptor["metric_kind"] == "DELTA"
    assert ref(descriptor["value_type"]) == 'each.value.value == null ? "INT64" : "DISTRIBUTION"'
    assert ref(descriptor["unit"]) == 'each.value.value == null ? "1" : "s"'
    assert "EXTRACT(jsonPayload.${each.value.value})" in resource["value_extractor"]
    assert "EXTRACT(jsonPayload.${field})" in resource["label_extractors"]
    buckets = resource["dynamic"][0]["bucket_options"]
    assert ref(buckets["for_each"]) == "each.value.value == null ? [] : [each.value.value]"
    labels = descriptor["dynamic"][0]["labels"]
    assert ref(labels["for_each"]) == "each.value.labels"
    described = set(terraform().locals["label_descriptions"])
    for name, entry in _metrics().items():
        assert entry["value"] is None or re.fullmatch(r"\w+_s", entry["value"]), name
        assert set(entry["labels"]) <= described, f"{name}: a label without a description"
        assert len(entry["description"]) > 20, name


def test_the_issue_asks_for_latency_cold_start_worker_second_and_error_metrics() -> None:
    metrics = _metrics()
    assert {"job_latency", "worker_starts", "worker_seconds", "errors"} <= set(metrics)
    assert metrics["job_latency"]["value"] == "latency_s"
    assert metrics["worker_seconds"]["value"] == "alive_s"
    assert set(metrics["errors"]["labels"]) == {"code"}
    assert "priority" in metrics["job_latency"]["labels"]


# ---- alert policies -------------------------------------------------------------------


def test_the_five_alerts_of_the_old_analysis_and_the_two_of_the_queue_exist() -> None:
    assert set(_policies()) == {
        "cold_starts",
        "latency_p95",
        "busy_share",
        "cost_per_request",
        "errors",
        "oldest_unacked",
        "dead_letters",
    }
    for name, policy in _policies().items():
        assert ref(policy["notification_channels"]) == "local.alert_channels", name
        assert ref(policy["enabled"]) == "var.alerts_enabled", name
        assert len(block(policy, "documentation")["content"]) > 40, f"{name}: no runbook"


@pytest.mark.parametrize(
    ("policy", "variable", "default", "window", "comparison"),
    [
        ("cold_starts", "alert_cold_start_share", 0.15, "[1h]", ">"),
        ("busy_share", "alert_min_busy_share", 0.6, "[1h]", "<"),
        ("cost_per_request", "alert_max_cost_per_request_usd", 0.04, "[1h]", ">"),
        ("errors", "alert_max_error_share", 0.01, "[5m]", ">"),
    ],
)
def test_promql_alerts_compare_their_window_to_their_variable(
    policy: str, variable: str, default: float, window: str, comparison: str
) -> None:
    tf = terraform()
    assert tf.default(variable) == default
    queries = _promql(policy)
    assert queries, f"{policy} has no PromQL condition"
    for query in queries:
        assert query.endswith(f" {comparison} {default}"), query
        assert window in query, f"{policy} is not over {window}: {query}"
        assert query.count("(") == query.count(")"), query


def test_the_error_alert_watches_failed_jobs_and_ingest_5xx() -> None:
    jobs, ingest = _promql("errors")
    assert 'state="failed"' in jobs
    assert 'response_code_class="5xx"' in ingest and 'service_name="cutout-ingest"' in ingest


def test_the_p95_alert_is_the_95th_percentile_of_interactive_tiers_over_5_minutes() -> None:
    tf = terraform()
    condition = block(_conditions("latency_p95")[0], "condition_threshold")
    assert '${google_logging_metric.cutout["job_latency"].name}' in condition["filter"]
    assert 'metric.label.priority!="batch"' in condition["filter"]
    assert ref(condition["threshold_value"]) == "var.alert_p95_latency_s"
    assert tf.default("alert_p95_latency_s") == 20
    aggregation = block(condition, "aggregations")
    assert aggregation["alignment_period"] == "300s"
    assert aggregation["cross_series_reducer"] == "REDUCE_PERCENTILE_95"


def test_every_tier_has_an_oldest_unacked_alert_and_dead_letters_alert() -> None:
    tf = terraform()
    oldest = _policies()["oldest_unacked"]
    assert ref(oldest["for_each"]) == "toset(local.tiers)"
    assert set(tf.default("alert_oldest_unacked_age_s")) == set(TIERS)
    condition = block(oldest["conditions"][0], "condition_threshold")
    assert "subscription/oldest_unacked_message_age" in condition["filter"]
    assert "google_pubsub_subscription.tier[each.value].name" in condition["filter"]
    dead = block(_conditions("dead_letters")[0], "condition_threshold")
    assert "subscription/dead_letter_message_count" in dead["filter"]
    assert ref(dead["threshold_value"]) == "var.alert_max_dead_letters"


def test_queries_name_only_declared_metrics() -> None:
    declared = set(_metrics())
    rendered = _dashboard()
    queries = [q for policy in _policies() for q in _promql(policy)]
    queries += [d["timeSeriesQuery"]["prometheusQuery"] for d in _datasets(rendered)]
    used = {_declared_metric(m) for q in queries for m in PROMQL_METRIC.findall(q)}
    assert used and used <= declared, f"undeclared metrics: {used - declared}"


def test_the_cost_alerts_worker_price_is_the_price_tables() -> None:
    default = terraform().default("alert_worker_usd_per_second")
    assert default == pytest.approx(worker_usd_per_second(load_prices()), rel=1e-9)


# ---- dashboard, channels, budget, APIs ------------------------------------------------


def _dashboard() -> dict[str, Any]:
    text = DASHBOARD.read_text()
    for name, value in TEMPLATE_VALUES.items():
        text = text.replace("${" + name + "}", value)
    assert "${" not in text.replace("$${", ""), "the template uses a variable nobody passes"
    document: dict[str, Any] = json.loads(text.replace("$${", "${"))
    return document


def _datasets(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for w in dashboard["gridLayout"]["widgets"] for d in w["xyChart"]["dataSets"]]


def test_the_dashboard_renders_and_charts_every_metric() -> None:
    resource = terraform().resource("google_monitoring_dashboard", "operations")
    call = resource["dashboard_json"]
    assert 'templatefile("${path.module}/dashboard.json.tftpl"' in call
    passed = set(re.findall(r"(\w+) = ", call))
    used = set(re.findall(r"(?<!\$)\$\{(\w+)\}", DASHBOARD.read_text()))
    assert passed == used == set(TEMPLATE_VALUES), f"passed {passed}, used {used}"
    queries = " ".join(d["timeSeriesQuery"]["prometheusQuery"] for d in _datasets(_dashboard()))
    charted = {_declared_metric(m) for m in PROMQL_METRIC.findall(queries)}
    assert charted == set(_metrics()), f"not on the dashboard: {set(_metrics()) - charted}"
    assert "oldest_unacked_message_age" in queries and "dead_letter_message_count" in queries


def test_alerts_go_to_the_given_channels_and_an_optional_email() -> None:
    tf = terraform()
    assert tf.default("alert_notification_channels") == []
    assert tf.default("alert_email") == ""
    email = tf.resource("google_monitoring_notification_channel", "email")
    assert ref(email["count"]) == 'var.alert_email != "" ? 1 : 0'
    channels = tf.locals["alert_channels"]
    assert "var.alert_notification_channels" in channels
    assert "google_monitoring_notification_channel.email[*].id" in channels


def test_the_budget_is_optional_and_notifies_at_each_threshold() -> None:
    tf = terraform()
    budget = tf.resource("google_billing_budget", "monthly")
    assert ref(budget["count"]) == 'var.billing_account != "" ? 1 : 0'
    assert tf.default("billing_account") == ""
    rules = budget["dynamic"][0]["threshold_rules"]
    assert ref(rules["for_each"]) == "var.budget_alert_thresholds"
    assert tf.default("budget_alert_thresholds") == sorted(tf.default("budget_alert_thresholds"))
    assert block(budget, "budget_filter")["projects"] == [
        "projects/${data.google_project.current.number}"
    ]
    updates = block(budget, "all_updates_rule")
    assert ref(updates["monitoring_notification_channels"]) == "local.alert_channels"


def test_the_monitoring_apis_are_enabled() -> None:
    services = terraform().locals["services"]
    for api in ("logging", "monitoring", "billingbudgets"):
        assert f"{api}.googleapis.com" in services
