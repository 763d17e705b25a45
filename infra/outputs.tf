output "ingest_url" {
  description = "The API's base URL (CUTOUT_PUBLIC_URL unless public_url overrides it)."
  value       = google_cloud_run_v2_service.ingest.uri
}

output "public_url" {
  description = "The base URL clients are told to use."
  value       = local.public_url
}

output "image_repository" {
  description = "Artifact Registry path images are pushed to (<region>-docker.pkg.dev/<project>/<repo>)."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}

output "worker_job" {
  description = "Name of the Cloud Run job the launcher executes (CUTOUT_WORKER_JOB)."
  value       = google_cloud_run_v2_job.worker.name
}

output "ingest_service" {
  description = "Name of the ingest Cloud Run service."
  value       = google_cloud_run_v2_service.ingest.name
}

output "uploads_bucket" {
  value = google_storage_bucket.uploads.name
}

output "results_bucket" {
  value = google_storage_bucket.results.name
}

output "topics" {
  description = "Topic per priority tier."
  value       = { for tier, topic in google_pubsub_topic.tier : tier => topic.name }
}

output "service_accounts" {
  value = {
    ingest    = google_service_account.ingest.email
    worker    = google_service_account.worker.email
    scheduler = google_service_account.scheduler.email
    deployer  = google_service_account.deployer.email
  }
}

output "scale_caller" {
  description = "The identity (and OIDC audience) ingest must accept on POST /v1/scale."
  value = {
    service_account = google_service_account.scheduler.email
    audience        = local.ingest_run_url
  }
}

output "cloud_build_command" {
  description = "Builds, tests and deploys both images (fill in the weights' sha256 once)."
  value = join(" ", [
    "gcloud builds submit --config=cloudbuild.yaml",
    "--project=${var.project_id} --region=${var.region}",
    "--service-account=${google_service_account.deployer.id}",
    "--gcs-source-staging-dir=gs://${google_storage_bucket.build.name}/source",
    "--substitutions=_REGION=${var.region},_REPOSITORY=${google_artifact_registry_repository.images.repository_id},_WORKER_JOB=${google_cloud_run_v2_job.worker.name},_INGEST_SERVICE=${google_cloud_run_v2_service.ingest.name},_TAG=$(git rev-parse --short HEAD),_WEIGHTS_SHA256=<sha256>",
  ])
}
