# Firestore holds the job documents (the single source of truth), worker heartbeats
# and the ingest's scale-up lease. Documents carry expire_at; TTL policies delete them.

resource "google_firestore_database" "main" {
  name                              = "(default)"
  location_id                       = local.firestore_location
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "OPTIMISTIC"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = var.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  deletion_policy                   = var.deletion_protection ? "ABANDON" : "DELETE"

  depends_on = [google_project_service.enabled]
}

# TTL on expire_at for jobs, worker heartbeats and worker lives (expiring with the jobs).
# index_config {} drops the automatic single-field indexes on a monotonically growing
# timestamp, which Google advises for TTL fields (they hot-spot writes) and which no query
# here uses (worker lives are queried on `started`, whose index stays).
resource "google_firestore_field" "ttl" {
  for_each = toset(["jobs", "workers", "workers_lives"])

  database   = google_firestore_database.main.name
  collection = each.value
  field      = "expire_at"

  ttl_config {}
  index_config {}
}

# Composite indexes for the status store's queries, newest first.
locals {
  job_query_fields = {
    state    = "state"
    client   = "client.key_id"
    batch_id = "client.batch_id"
  }
}

resource "google_firestore_index" "jobs" {
  for_each = local.job_query_fields

  database    = google_firestore_database.main.name
  collection  = "jobs"
  query_scope = "COLLECTION"

  fields {
    field_path = each.value
    order      = "ASCENDING"
  }

  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
}

# The backlog count that worker scaling reads: queued and running jobs per priority.
resource "google_firestore_index" "jobs_backlog" {
  database    = google_firestore_database.main.name
  collection  = "jobs"
  query_scope = "COLLECTION"

  fields {
    field_path = "priority"
    order      = "ASCENDING"
  }

  fields {
    field_path = "state"
    order      = "ASCENDING"
  }
}
