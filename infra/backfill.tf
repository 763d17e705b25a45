# Backfill by reference (cutout/backfill/by_reference.py, README "Backfill").
#
# 1. The service reads customers' photos and writes their results as itself: the worker's
#    account gets read access to each bucket in backfill_source_buckets and write access
#    to each in backfill_destination_buckets. Ingest needs none: it never reads a photo
#    given by reference. Which prefixes a key may name is the key record's own
#    (`cutout keys create --source gs://… --dest gs://…`), checked by ingest.
# 2. Very large prefixes are listed and submitted by a Cloud Run job with parallel
#    tasks: `cutout backfill SRC DEST` in each, which takes the shard
#    CLOUD_RUN_TASK_INDEX of CLOUD_RUN_TASK_COUNT (the same code path as the CLI). Run it
#    with overrides: gcloud run jobs execute <prefix>-backfill --tasks N
#    --args="backfill,gs://src/prefix/,gs://dest/prefix/,--effects,color".
#    Its account may list the source buckets, write the report into the destination
#    buckets and read the backfill key's token; nothing else.

resource "google_storage_bucket_iam_member" "worker_reads_backfill_sources" {
  for_each = toset(var.backfill_source_buckets)
  bucket   = each.value
  role     = "roles/storage.objectViewer"
  member   = google_service_account.worker.member
}

# objectUser: create, and replace on a rerun (delete), results at their mirrored names.
resource "google_storage_bucket_iam_member" "worker_writes_backfill_destinations" {
  for_each = toset(var.backfill_destination_buckets)
  bucket   = each.value
  role     = "roles/storage.objectUser"
  member   = google_service_account.worker.member
}

resource "google_service_account" "backfill" {
  account_id   = "${var.name_prefix}-backfill"
  display_name = "cutout backfill lister (lists gs:// sources, submits by reference)"
}

resource "google_storage_bucket_iam_member" "backfill_lists_sources" {
  for_each = toset(var.backfill_source_buckets)
  bucket   = each.value
  role     = "roles/storage.objectViewer"
  member   = google_service_account.backfill.member
}

resource "google_storage_bucket_iam_member" "backfill_writes_reports" {
  for_each = toset(var.backfill_destination_buckets)
  bucket   = each.value
  role     = "roles/storage.objectUser"
  member   = google_service_account.backfill.member
}

# The secret API key the job submits with (minted with --source/--dest, its token added
# as a version of this secret by the operator: infra/README.md, "Backfill by reference").
resource "google_secret_manager_secret" "backfill_api_key" {
  secret_id = "${var.name_prefix}-backfill-api-key"

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}

resource "google_secret_manager_secret_iam_member" "backfill_reads_api_key" {
  secret_id = google_secret_manager_secret.backfill_api_key.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.backfill.member
}

resource "google_cloud_run_v2_job" "backfill" {
  name                = "${var.name_prefix}-backfill"
  location            = var.region
  deletion_protection = var.deletion_protection

  template {
    task_count  = var.backfill_tasks
    parallelism = var.backfill_tasks

    template {
      service_account = google_service_account.backfill.email
      timeout         = "${var.backfill_task_timeout_s}s"
      max_retries     = 3 # a rerun resumes: every item's job is idempotent

      containers {
        image   = var.initial_ingest_image
        command = ["python", "-m", "cutout"]
        args    = ["backfill", "--help"] # given per execution (see above)

        resources {
          limits = {
            cpu    = "1"
            memory = "1Gi"
          }
        }

        env {
          name  = "CUTOUT_GCP_PROJECT"
          value = var.project_id
        }
        env {
          name  = "CUTOUT_PUBLIC_URL"
          value = local.public_url
        }
        env {
          name = "CUTOUT_API_KEY"
          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.backfill_api_key.secret_id
              version = "latest"
            }
          }
        }
      }
    }
  }

  lifecycle {
    ignore_changes = [template[0].template[0].containers[0].image]
  }

  depends_on = [
    google_project_service.enabled,
    google_secret_manager_secret_iam_member.backfill_reads_api_key,
  ]
}
