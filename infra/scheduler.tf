# Every minute, ask ingest to compare the backlog with the running workers and start
# more if needed (a backfill piling up), with an OIDC token ingest can verify.
resource "google_cloud_scheduler_job" "backlog_check" {
  name             = "${var.name_prefix}-backlog-check"
  region           = var.region
  description      = "POST /v1/scale: add GPU workers when queued work outgrows them"
  schedule         = var.backlog_check_schedule
  time_zone        = "Etc/UTC"
  attempt_deadline = "60s"

  retry_config {
    retry_count = 0 # the next tick is the retry
  }

  http_target {
    http_method = "POST"
    uri         = "${local.ingest_run_url}/v1/scale"
    headers = {
      "Content-Type" = "application/json"
    }
    body = base64encode("{}")

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = local.public_url # what ingest verifies (CUTOUT_PUBLIC_URL)
    }
  }

  depends_on = [google_project_service.enabled, google_cloud_run_v2_service.ingest]
}
