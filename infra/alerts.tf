# Alert policies: the five the old service's analysis recommended (cold starts, P95,
# efficiency, cost per request, errors) and two the queue design needs (age of the oldest
# unacked message per tier, dead letters). Thresholds and channels are variables
# (monitoring_variables.tf). The PromQL and filters are checked for shape only: no alert
# query can be run without a real project (infra/README.md).

locals {
  jobs_finished   = "${local.promql_prefix}_jobs_finished"
  jobs_accepted   = "${local.promql_prefix}_jobs_accepted"
  worker_seconds  = "${local.promql_prefix}_worker_seconds"
  worker_busy     = "${local.promql_prefix}_worker_busy_seconds"
  ingest_requests = "run_googleapis_com:request_count{monitored_resource=\"cloud_run_revision\",service_name=\"${local.ingest_service_name}\"}"
  ingest_5xx      = "run_googleapis_com:request_count{monitored_resource=\"cloud_run_revision\",service_name=\"${local.ingest_service_name}\",response_code_class=\"5xx\"}"
}

resource "google_monitoring_alert_policy" "cold_starts" {
  display_name          = "${var.name_prefix}: cold starts over ${var.alert_cold_start_share * 100}% of jobs (1 h)"
  combiner              = "OR"
  enabled               = var.alerts_enabled
  notification_channels = local.alert_channels

  conditions {
    display_name = "share of finished jobs that were in their worker's first batch, over 1 h"
    condition_prometheus_query_language {
      query               = "sum(increase(${local.jobs_finished}{cold_start=\"true\"}[1h])) / sum(increase(${local.jobs_finished}[1h])) > ${var.alert_cold_start_share}"
      duration            = "0s"
      evaluation_interval = "300s"
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Too many jobs waited for a worker to start. Raise worker_idle_exit_s (fewer exits between bursts) or check that the page warms workers on intent (POST /v1/warm). `cutout report` shows the cold-start share per tier."
  }

  depends_on = [google_logging_metric.cutout]
}

resource "google_monitoring_alert_policy" "latency_p95" {
  display_name          = "${var.name_prefix}: P95 submit-to-done over ${var.alert_p95_latency_s} s (5 min)"
  combiner              = "OR"
  enabled               = var.alerts_enabled
  notification_channels = local.alert_channels

  conditions {
    display_name = "P95 of job latency per interactive tier (high, standard), 5-minute windows"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.cutout["job_latency"].name}\" AND resource.type=\"cloud_run_job\" AND metric.label.priority!=\"batch\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_p95_latency_s
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_PERCENTILE_95"
        group_by_fields      = ["metric.label.priority"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Interactive jobs are slow. Look at the dashboard's queue wait (not enough workers: raise max_workers) against its worker starts (cold starts: raise worker_idle_exit_s)."
  }
}

resource "google_monitoring_alert_policy" "busy_share" {
  display_name          = "${var.name_prefix}: workers busy under ${var.alert_min_busy_share * 100}% of their time (1 h)"
  combiner              = "OR"
  enabled               = var.alerts_enabled
  notification_channels = local.alert_channels

  conditions {
    display_name = "busy seconds over alive seconds of the workers that exited, over 1 h"
    condition_prometheus_query_language {
      query               = "sum(increase(${local.worker_busy}_sum[1h])) / sum(increase(${local.worker_seconds}_sum[1h])) < ${var.alert_min_busy_share}"
      duration            = "0s"
      evaluation_interval = "300s"
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "GPU time is paid for idle workers. Lower worker_idle_exit_s, or max_workers if workers start for backlogs they do not get to serve."
  }

  depends_on = [google_logging_metric.cutout]
}

resource "google_monitoring_alert_policy" "cost_per_request" {
  display_name          = "${var.name_prefix}: GPU cost over USD ${var.alert_max_cost_per_request_usd} per job request (1 h)"
  combiner              = "OR"
  enabled               = var.alerts_enabled
  notification_channels = local.alert_channels

  conditions {
    display_name = "worker seconds x worker price over accepted job requests, over 1 h"
    condition_prometheus_query_language {
      query               = "sum(increase(${local.worker_seconds}_sum[1h])) * ${var.alert_worker_usd_per_second} / sum(increase(${local.jobs_accepted}[1h])) > ${var.alert_max_cost_per_request_usd}"
      duration            = "0s"
      evaluation_interval = "300s"
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Each job request costs more GPU time than budgeted (the old service: $0.027 per request). Workers are idle too long for the traffic; see busy share. alert_worker_usd_per_second must match cutout/data/prices.toml."
  }

  depends_on = [google_logging_metric.cutout]
}

resource "google_monitoring_alert_policy" "errors" {
  display_name          = "${var.name_prefix}: errors over ${var.alert_max_error_share * 100}% (5 min)"
  combiner              = "OR"
  enabled               = var.alerts_enabled
  notification_channels = local.alert_channels

  conditions {
    display_name = "failed jobs over finished jobs, 5 min"
    condition_prometheus_query_language {
      query               = "sum(increase(${local.jobs_finished}{state=\"failed\"}[5m])) / sum(increase(${local.jobs_finished}[5m])) > ${var.alert_max_error_share}"
      duration            = "0s"
      evaluation_interval = "60s"
    }
  }

  conditions {
    display_name = "ingest 5xx answers over all its answers, 5 min"
    condition_prometheus_query_language {
      query               = "sum(rate(${local.ingest_5xx}[5m])) / sum(rate(${local.ingest_requests}[5m])) > ${var.alert_max_error_share}"
      duration            = "0s"
      evaluation_interval = "60s"
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Jobs fail or ingest answers 5xx. The dashboard's errors-by-code chart names the code (cutout/codes.py); the logs carry the job ids."
  }

  depends_on = [google_logging_metric.cutout]
}

resource "google_monitoring_alert_policy" "oldest_unacked" {
  for_each = toset(local.tiers)

  display_name          = "${var.name_prefix}: ${each.value} jobs waiting over ${var.alert_oldest_unacked_age_s[each.value]} s"
  combiner              = "OR"
  enabled               = var.alerts_enabled
  notification_channels = local.alert_channels

  conditions {
    display_name = "age of the oldest unacked message on ${google_pubsub_subscription.tier[each.value].name}"
    condition_threshold {
      filter          = "metric.type=\"pubsub.googleapis.com/subscription/oldest_unacked_message_age\" AND resource.type=\"pubsub_subscription\" AND resource.label.subscription_id=\"${google_pubsub_subscription.tier[each.value].name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_oldest_unacked_age_s[each.value]
      duration        = "120s"

      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Jobs of this tier wait and no worker takes them: workers failing to start (quota, image), max_workers too low for the backlog, or the periodic /v1/scale call failing."
  }

  depends_on = [google_project_service.enabled]
}

resource "google_monitoring_alert_policy" "dead_letters" {
  display_name          = "${var.name_prefix}: messages dead-lettered"
  combiner              = "OR"
  enabled               = var.alerts_enabled
  notification_channels = local.alert_channels

  conditions {
    display_name = "messages the tier subscriptions gave up on, 5 min"
    condition_threshold {
      filter          = "metric.type=\"pubsub.googleapis.com/subscription/dead_letter_message_count\" AND resource.type=\"pubsub_subscription\" AND resource.label.subscription_id=starts_with(\"${var.name_prefix}-\")"
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_max_dead_letters
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A job was delivered max_delivery_attempts times without finishing; the worker marks it failed with dead_lettered and the last error. Look for that code in the logs."
  }

  depends_on = [google_project_service.enabled]
}

# ---- budget ---------------------------------------------------------------------------

resource "google_billing_budget" "monthly" {
  count = var.billing_account != "" ? 1 : 0

  billing_account = var.billing_account
  display_name    = "${var.name_prefix} monthly budget"

  budget_filter {
    projects = ["projects/${data.google_project.current.number}"]
  }

  amount {
    specified_amount {
      currency_code = var.budget_currency
      units         = tostring(var.budget_monthly_amount)
    }
  }

  dynamic "threshold_rules" {
    for_each = var.budget_alert_thresholds
    content {
      threshold_percent = threshold_rules.value
    }
  }

  all_updates_rule {
    monitoring_notification_channels = local.alert_channels
    disable_default_iam_recipients   = false
  }

  depends_on = [google_project_service.enabled]
}
