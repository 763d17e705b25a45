# Everything an empty project must switch on before the rest can be created.
locals {
  services = toset([
    "artifactregistry.googleapis.com",
    "billingbudgets.googleapis.com", # the optional budget
    "cloudbuild.googleapis.com",
    "cloudscheduler.googleapis.com",
    "compute.googleapis.com", # the private network ingest reaches Redis through
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com", # signBlob for V4 signed URLs
    "logging.googleapis.com",        # log-based metrics
    "monitoring.googleapis.com",     # alert policies, dashboard
    "pubsub.googleapis.com",
    "redis.googleapis.com", # Memorystore: the shared quota counters
    "run.googleapis.com",
    "secretmanager.googleapis.com", # the API key pepper and the quota Redis URL
    "storage.googleapis.com",
  ])
}

resource "google_project_service" "enabled" {
  for_each = local.services

  service            = each.value
  disable_on_destroy = false
}

data "google_project" "current" {
  project_id = var.project_id
}
