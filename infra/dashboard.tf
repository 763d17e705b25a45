# The operations dashboard: the same numbers `cutout report` prints (latency per tier,
# queue wait, cold starts, workers' busy share, cost per request, errors by code) plus the
# queue's own view (oldest unacked message, dead letters), from monitoring.tf's metrics.
resource "google_monitoring_dashboard" "operations" {
  dashboard_json = templatefile("${path.module}/dashboard.json.tftpl", {
    name_prefix           = var.name_prefix
    promql_prefix         = local.promql_prefix
    worker_usd_per_second = var.alert_worker_usd_per_second
  })

  depends_on = [google_project_service.enabled, google_logging_metric.cutout]
}
