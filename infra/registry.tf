# Docker repository for the worker and ingest images. The worker image is several GB,
# so old versions are cleaned up instead of kept forever.
resource "google_artifact_registry_repository" "images" {
  #checkov:skip=CKV_GCP_84:Images hold open-source code and public model weights; Google-managed encryption at rest suffices.
  location      = var.region
  repository_id = var.name_prefix
  description   = "cutout worker and ingest images"
  format        = "DOCKER"

  cleanup_policy_dry_run = false

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 5
    }
  }

  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      tag_state  = "ANY"
      older_than = "2592000s" # 30 days
    }
  }

  depends_on = [google_project_service.enabled]
}
