# Monitoring as code: log-based metrics from the JSON lines ingest and the worker write
# (cutout/logs.py puts extra={"fields": ...} at the top of jsonPayload), the alert
# policies the old service's analysis asked for plus the two the queue design needs, a
# dashboard and an optional billing budget. Every field a filter or extractor names is
# checked against the records the code emits (tests/test_log_fields.py).
#
# Alert queries cannot be run here: they are checked for shape, not executed.

locals {
  # Log-based metric names may not contain dashes in PromQL, so the prefix is folded.
  metric_prefix = replace(var.name_prefix, "-", "_")
  promql_prefix = "logging_googleapis_com:user_${local.metric_prefix}"

  worker_logs = "resource.type=\"cloud_run_job\" AND resource.labels.job_name=\"${local.worker_job_name}\""
  ingest_logs = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${local.ingest_service_name}\""

  alert_channels = concat(
    var.alert_notification_channels,
    google_monitoring_notification_channel.email[*].id,
  )
}

# ---- log-based metrics ----------------------------------------------------------------

locals {
  # name → what it counts. A metric with a `value` field is a distribution of that field
  # (seconds); one without counts entries. `labels` maps each label to the field it is
  # extracted from. The fields are the log contract checked by tests/test_log_fields.py.
  log_metrics = {
    job_latency = {
      description = "Seconds from submission to done, per job a worker finished (worker: job_finished)."
      filter      = "${local.worker_logs} AND jsonPayload.event=\"job_finished\" AND jsonPayload.state=\"done\""
      value       = "latency_s"
      labels      = { priority = "priority", cold_start = "cold_start" }
    }
    queue_wait = {
      description = "Seconds from submission until a worker claimed the job (worker: job_finished, done)."
      filter      = "${local.worker_logs} AND jsonPayload.event=\"job_finished\" AND jsonPayload.state=\"done\""
      value       = "queue_wait_s"
      labels      = { priority = "priority" }
    }
    result_latency = {
      description = "Seconds from submission until each result was stored and recorded (worker: result_ready)."
      filter      = "${local.worker_logs} AND jsonPayload.event=\"result_ready\""
      value       = "latency_s"
      labels      = { priority = "priority", effect = "effect" }
    }
    jobs_finished = {
      description = "Jobs a worker finished, done or failed (worker: job_finished); the cold-start and error shares divide by it."
      filter      = "${local.worker_logs} AND jsonPayload.event=\"job_finished\""
      value       = null
      labels      = { priority = "priority", state = "state", cold_start = "cold_start" }
    }
    errors = {
      description = "Failed jobs (worker: job_finished, failed) and ingest's 5xx answers (ingest: request_failed), by error code."
      filter      = "(${local.worker_logs} AND jsonPayload.event=\"job_finished\" AND jsonPayload.state=\"failed\") OR (${local.ingest_logs} AND jsonPayload.event=\"request_failed\")"
      value       = null
      labels      = { code = "code" }
    }
    jobs_accepted = {
      description = "Job requests ingest accepted (ingest: job_accepted): the requests cost and errors are shared over."
      filter      = "${local.ingest_logs} AND jsonPayload.event=\"job_accepted\""
      value       = null
      labels      = { priority = "priority", cached = "cached" }
    }
    worker_starts = {
      description = "Worker processes that started (worker: worker_started): each is a cold start."
      filter      = "${local.worker_logs} AND jsonPayload.event=\"worker_started\""
      value       = null
      labels      = {}
    }
    worker_seconds = {
      description = "Each worker's life in seconds, logged as it exits (worker: worker_exited): the billed GPU time."
      filter      = "${local.worker_logs} AND jsonPayload.event=\"worker_exited\""
      value       = "alive_s"
      labels      = { end_reason = "end_reason" }
    }
    worker_busy_seconds = {
      description = "Seconds each worker had a batch in flight, logged as it exits (worker: worker_exited)."
      filter      = "${local.worker_logs} AND jsonPayload.event=\"worker_exited\""
      value       = "busy_s"
      labels      = {}
    }
  }

  label_descriptions = {
    priority   = "queue tier"
    cold_start = "true when the job was in its worker's first batch"
    state      = "done or failed"
    effect     = "the effect whose result this is"
    code       = "the error code (cutout/codes.py)"
    cached     = "true when every result came from the cache"
    end_reason = "why the worker exited"
  }
}

resource "google_logging_metric" "cutout" {
  for_each = local.log_metrics

  name        = "${local.metric_prefix}_${each.key}"
  description = each.value.description
  filter      = each.value.filter

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = each.value.value == null ? "INT64" : "DISTRIBUTION"
    unit        = each.value.value == null ? "1" : "s"

    dynamic "labels" {
      for_each = each.value.labels
      content {
        key         = labels.key
        value_type  = "STRING"
        description = local.label_descriptions[labels.key]
      }
    }
  }

  value_extractor  = each.value.value == null ? null : "EXTRACT(jsonPayload.${each.value.value})"
  label_extractors = { for label, field in each.value.labels : label => "EXTRACT(jsonPayload.${field})" }

  # Seconds from 50 ms to about 10 h in 40 steps of x1.4.
  dynamic "bucket_options" {
    for_each = each.value.value == null ? [] : [each.value.value]
    content {
      exponential_buckets {
        num_finite_buckets = 40
        growth_factor      = 1.4
        scale              = 0.05
      }
    }
  }

  depends_on = [google_project_service.enabled]
}

# ---- where alerts go ------------------------------------------------------------------

resource "google_monitoring_notification_channel" "email" {
  count = var.alert_email != "" ? 1 : 0

  display_name = "${var.name_prefix} alerts"
  type         = "email"
  labels = {
    email_address = var.alert_email
  }

  depends_on = [google_project_service.enabled]
}
