# Buckets: private (uniform access, public access prevention enforced), self-cleaning
# (lifecycle delete), reached by clients only through short-lived V4 signed URLs.
# Objects are content-addressed and written once, so versioning would only keep
# copies of data the lifecycle rule is meant to delete.

resource "google_storage_bucket" "uploads" {
  #checkov:skip=CKV_GCP_78:Uploads are written once under content hashes and expire after 7 days; versioning would retain what the lifecycle rule deletes.
  #checkov:skip=CKV_GCP_62:Access is logged by Cloud Audit Logs (data access logs can be enabled per project); a usage-log bucket would need its own log bucket.
  name                        = local.uploads_bucket
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = !var.deletion_protection

  lifecycle_rule {
    condition {
      age = var.uploads_retention_days
    }
    action {
      type = "Delete"
    }
  }

  # Direct browser uploads (POST /v1/uploads hands out a signed PUT URL). GCS answers
  # a preflight only for the request headers listed here (response_header is both the
  # allowed and the exposed list), so it names every header a signed PUT carries:
  # Content-Type and the x-goog-* headers the URL is signed with (single use:
  # x-goog-if-generation-match: 0).
  cors {
    origin          = local.cors_origins
    method          = ["PUT", "GET", "HEAD"]
    response_header = local.signed_put_headers
    max_age_seconds = 3600
  }

  depends_on = [google_project_service.enabled]
}

resource "google_storage_bucket" "results" {
  #checkov:skip=CKV_GCP_78:Results are content-addressed and never overwritten; versioning would retain what the 30-day lifecycle rule deletes.
  #checkov:skip=CKV_GCP_62:Access is logged by Cloud Audit Logs (data access logs can be enabled per project); a usage-log bucket would need its own log bucket.
  name                        = local.results_bucket
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = !var.deletion_protection

  # Counted from each object's custom time, which the worker sets when it writes a result
  # and every cache hit moves forward (cutout/gcp/gcs.py), so a result served on day 29
  # is not deleted on day 30. Objects without a custom time (written before this rule,
  # or by hand) never match: give them one once, e.g.
  #   gcloud storage objects update "gs://BUCKET/results/**" --custom-time=$(date -u +%FT%TZ)
  lifecycle_rule {
    condition {
      days_since_custom_time = var.results_retention_days
    }
    action {
      type = "Delete"
    }
  }

  # Browsers fetch results through signed GET URLs (canvas/fetch needs CORS).
  cors {
    origin          = local.cors_origins
    method          = ["GET", "HEAD"]
    response_header = ["Content-Type", "Content-Length"]
    max_age_seconds = 3600
  }

  depends_on = [google_project_service.enabled]
}

# Where `gcloud builds submit` stages the source for Cloud Build, so the deployer
# account can read it without any project-wide storage role.
resource "google_storage_bucket" "build" {
  #checkov:skip=CKV_GCP_78:Holds throwaway source tarballs for 7 days; versioning adds nothing.
  #checkov:skip=CKV_GCP_62:Access is logged by Cloud Audit Logs; a usage-log bucket would need its own log bucket.
  name                        = local.build_bucket
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true

  lifecycle_rule {
    condition {
      age = 7
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.enabled]
}
