# Ingest: the HTTP API (functions-framework, entry point `handle`) as a CPU-only Cloud
# Run service built from Dockerfile.ingest. It scales to zero; CPU is billed only while
# a request is in flight.
resource "google_cloud_run_v2_service" "ingest" {
  name                = local.ingest_service_name
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = var.deletion_protection

  template {
    service_account                  = google_service_account.ingest.email
    timeout                          = "120s"
    max_instance_request_concurrency = var.ingest_concurrency

    scaling {
      min_instance_count = 0
      max_instance_count = var.ingest_max_instances
    }

    # Direct VPC egress, private ranges only: the quota Redis (infra/quotas.tf) is
    # reachable, everything else still leaves through Google's edge.
    vpc_access {
      network_interfaces {
        network    = google_compute_network.private.id
        subnetwork = google_compute_subnetwork.ingest.id
      }
      egress = "PRIVATE_RANGES_ONLY"
    }

    containers {
      image = var.initial_ingest_image

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = "1"
          memory = var.ingest_memory
        }
        cpu_idle          = true
        startup_cpu_boost = true
      }

      dynamic "env" {
        for_each = local.ingest_env
        content {
          name  = env.key
          value = env.value
        }
      }

      # rediss://:<AUTH>@host:port/0 of the quota counters, from Secret Manager.
      env {
        name = "CUTOUT_QUOTA_STORAGE_URI"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.quota_storage_uri.secret_id
            version = google_secret_manager_secret_version.quota_storage_uri.version
          }
        }
      }
      env {
        name = "CUTOUT_KEY_PEPPER"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.key_pepper.secret_id
            version = google_secret_manager_secret_version.key_pepper.version
          }
        }
      }
    }
  }

  lifecycle {
    # Cloud Build rolls out new images; Terraform owns everything else.
    ignore_changes = [template[0].containers[0].image]
  }

  depends_on = [
    google_project_service.enabled,
    google_secret_manager_secret_iam_member.ingest_reads_quota_storage_uri,
    google_secret_manager_secret_version.key_pepper,
    google_secret_manager_secret_iam_member.ingest_reads_key_pepper,
  ]
}

# Browsers upload and poll directly, so the API is public; it authenticates clients
# itself (API keys) and verifies the scheduler's OIDC token on /v1/scale.
resource "google_cloud_run_v2_service_iam_member" "ingest_public" {
  count = var.ingest_public ? 1 : 0

  name     = google_cloud_run_v2_service.ingest.name
  location = google_cloud_run_v2_service.ingest.location
  role     = "roles/run.invoker"
  member   = "allUsers"
}
