# One service account per role, each granted only what it uses, on the narrowest
# resource that IAM allows. Firestore grants exist only at project level, so
# roles/datastore.user is the one project-wide data role.

resource "google_service_account" "ingest" {
  account_id   = "${var.name_prefix}-ingest"
  display_name = "cutout ingest (HTTP API)"
  depends_on   = [google_project_service.enabled]
}

resource "google_service_account" "worker" {
  account_id   = "${var.name_prefix}-worker"
  display_name = "cutout GPU worker"
  depends_on   = [google_project_service.enabled]
}

resource "google_service_account" "scheduler" {
  account_id   = "${var.name_prefix}-scheduler"
  display_name = "cutout backlog check (Cloud Scheduler)"
  depends_on   = [google_project_service.enabled]
}

resource "google_service_account" "deployer" {
  account_id   = "${var.name_prefix}-deployer"
  display_name = "cutout Cloud Build deployer"
  depends_on   = [google_project_service.enabled]
}

# ---- ingest: publish jobs, write uploads, read results, read/write jobs, run workers

resource "google_pubsub_topic_iam_member" "ingest_publisher" {
  for_each = toset(local.tiers)

  topic  = google_pubsub_topic.tier[each.value].id
  role   = "roles/pubsub.publisher"
  member = google_service_account.ingest.member
}

# objectUser: create (and sign PUT URLs for) uploads, read them back to validate, and
# delete uploads that fail validation.
resource "google_storage_bucket_iam_member" "ingest_uploads" {
  bucket = google_storage_bucket.uploads.name
  role   = "roles/storage.objectUser"
  member = google_service_account.ingest.member
}

# Read results: answer cache hits and sign GET URLs for finished effects.
resource "google_storage_bucket_iam_member" "ingest_results" {
  bucket = google_storage_bucket.results.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.ingest.member
}

resource "google_project_iam_member" "ingest_firestore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = google_service_account.ingest.member
}

# Start workers: run the job with a task-count override.
resource "google_cloud_run_v2_job_iam_member" "ingest_runs_worker" {
  name     = google_cloud_run_v2_job.worker.name
  location = google_cloud_run_v2_job.worker.location
  role     = "roles/run.jobsExecutorWithOverrides"
  member   = google_service_account.ingest.member
}

# V4 signed URLs without a key file: ingest signs through IAM signBlob as itself.
resource "google_service_account_iam_member" "ingest_signs_as_itself" {
  service_account_id = google_service_account.ingest.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = google_service_account.ingest.member
}

# ---- worker: pull jobs, read uploads, write results, read/write jobs

resource "google_pubsub_subscription_iam_member" "worker_tiers" {
  for_each = toset(local.tiers)

  subscription = google_pubsub_subscription.tier[each.value].id
  role         = "roles/pubsub.subscriber"
  member       = google_service_account.worker.member
}

resource "google_pubsub_subscription_iam_member" "worker_dead_letter" {
  subscription = google_pubsub_subscription.dead_letter.id
  role         = "roles/pubsub.subscriber"
  member       = google_service_account.worker.member
}

# The worker forwards a message to the dead-letter topic itself after exactly
# CUTOUT_MAX_ATTEMPTS deliveries (Pub/Sub's own policy cannot go below 5).
resource "google_pubsub_topic_iam_member" "worker_dead_letter_publish" {
  topic  = google_pubsub_topic.dead_letter.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.worker.member
}

resource "google_storage_bucket_iam_member" "worker_uploads" {
  bucket = google_storage_bucket.uploads.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.worker.member
}

# Create results, and read them to skip work another worker already finished. No
# delete or overwrite: results are content-addressed.
resource "google_storage_bucket_iam_member" "worker_results_create" {
  bucket = google_storage_bucket.results.name
  role   = "roles/storage.objectCreator"
  member = google_service_account.worker.member
}

resource "google_storage_bucket_iam_member" "worker_results_read" {
  bucket = google_storage_bucket.results.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.worker.member
}

resource "google_project_iam_member" "worker_firestore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = google_service_account.worker.member
}

# ---- scheduler: call ingest's POST /v1/scale with an OIDC token

resource "google_cloud_run_v2_service_iam_member" "scheduler_invokes_ingest" {
  name     = google_cloud_run_v2_service.ingest.name
  location = google_cloud_run_v2_service.ingest.location
  role     = "roles/run.invoker"
  member   = google_service_account.scheduler.member
}

# ---- deployer (Cloud Build): push images, roll them out to the job and the service

resource "google_artifact_registry_repository_iam_member" "deployer_push" {
  repository = google_artifact_registry_repository.images.name
  location   = google_artifact_registry_repository.images.location
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.deployer.member
}

resource "google_cloud_run_v2_job_iam_member" "deployer_worker" {
  name     = google_cloud_run_v2_job.worker.name
  location = google_cloud_run_v2_job.worker.location
  role     = "roles/run.developer"
  member   = google_service_account.deployer.member
}

resource "google_cloud_run_v2_service_iam_member" "deployer_ingest" {
  name     = google_cloud_run_v2_service.ingest.name
  location = google_cloud_run_v2_service.ingest.location
  role     = "roles/run.developer"
  member   = google_service_account.deployer.member
}

# A new revision runs as the runtime accounts, so the deployer must be allowed to act as them.
resource "google_service_account_iam_member" "deployer_acts_as" {
  for_each = {
    ingest = google_service_account.ingest.name
    worker = google_service_account.worker.name
  }

  service_account_id = each.value
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.deployer.member
}

resource "google_storage_bucket_iam_member" "deployer_reads_source" {
  bucket = google_storage_bucket.build.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.deployer.member
}

resource "google_project_iam_member" "deployer_logs" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.deployer.member
}
