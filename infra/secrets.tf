# The key pepper: the HMAC key under which API key tokens are stored (cutout/keys.py).
# It is generated ephemerally and written to Secret Manager through a write-only
# attribute, so it is in no plan or state file. Ingest reads it as CUTOUT_KEY_PEPPER;
# `cutout keys create --backend gcp` needs it too (infra/README.md, "API keys").
# Bumping key_pepper_version rotates it, which invalidates every key: mint new ones.
resource "google_secret_manager_secret" "key_pepper" {
  secret_id = "${var.name_prefix}-key-pepper"

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}

ephemeral "random_password" "key_pepper" {
  length  = 64
  special = false
}

resource "google_secret_manager_secret_version" "key_pepper" {
  secret                 = google_secret_manager_secret.key_pepper.id
  secret_data_wo         = ephemeral.random_password.key_pepper.result
  secret_data_wo_version = var.key_pepper_version
}

resource "google_secret_manager_secret_iam_member" "ingest_reads_key_pepper" {
  secret_id = google_secret_manager_secret.key_pepper.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.ingest.member
}
