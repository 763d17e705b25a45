# Quota counters shared by every ingest instance (cutout/quotas.py): Memorystore for
# Redis, reached from ingest over Direct VPC egress (no connector VMs to pay for).
# Redis rather than Firestore counters: one atomic INCR+EXPIRE per check in under a
# millisecond, expiry built in, and no per-document write-rate ceiling to shard around.
# AUTH and TLS are on; the connection URL (it holds the AUTH string) is a secret that
# only ingest may read, and the server's CA certificate is passed as a plain setting.

resource "google_compute_network" "private" {
  name                    = "${var.name_prefix}-private"
  auto_create_subnetworks = false
  depends_on              = [google_project_service.enabled]
}

# Nothing in this network serves anyone: no ingress at all (replies to ingest's own
# connections are allowed by the stateful firewall; egress stays implied-allow).
resource "google_compute_firewall" "private_deny_ingress" {
  name      = "${var.name_prefix}-private-deny-ingress"
  network   = google_compute_network.private.id
  direction = "INGRESS"
  priority  = 1000

  deny {
    protocol = "all"
  }
  source_ranges = ["0.0.0.0/0"]

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

# Direct VPC egress takes ingest's instance addresses from this subnet: two per
# instance, so a /24 covers var.ingest_max_instances up to about 120.
resource "google_compute_subnetwork" "ingest" {
  name                     = "${var.name_prefix}-ingest"
  region                   = var.region
  network                  = google_compute_network.private.id
  ip_cidr_range            = var.ingest_subnet_cidr
  private_ip_google_access = true

  log_config {
    aggregation_interval = "INTERVAL_10_MIN"
    flow_sampling        = 0.1
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

resource "google_redis_instance" "quotas" {
  name               = "${var.name_prefix}-quotas"
  region             = var.region
  tier               = var.quota_redis_tier
  memory_size_gb     = var.quota_redis_memory_gb
  redis_version      = "REDIS_7_2"
  authorized_network = google_compute_network.private.id
  connect_mode       = "DIRECT_PEERING"

  auth_enabled            = true
  transit_encryption_mode = "SERVER_AUTHENTICATION"

  # Every quota counter carries its window as a TTL; under memory pressure evict the
  # ones closest to expiring rather than refusing writes.
  redis_configs = {
    maxmemory-policy = "volatile-ttl"
  }

  depends_on = [google_project_service.enabled]
}

resource "google_secret_manager_secret" "quota_storage_uri" {
  secret_id = "${var.name_prefix}-quota-storage-uri"

  replication {
    user_managed {
      replicas {
        location = var.region
      }
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_secret_manager_secret_version" "quota_storage_uri" {
  secret      = google_secret_manager_secret.quota_storage_uri.id
  secret_data = "rediss://:${google_redis_instance.quotas.auth_string}@${google_redis_instance.quotas.host}:${google_redis_instance.quotas.port}/0"
}

resource "google_secret_manager_secret_iam_member" "ingest_reads_quota_storage_uri" {
  secret_id = google_secret_manager_secret.quota_storage_uri.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.ingest.member
}
