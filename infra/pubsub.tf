# One topic and one pull subscription per priority tier, and a shared dead-letter topic.
# Messages carry only the job id and the priority attribute; the status store is the
# source of truth, so redelivery is harmless.

resource "google_pubsub_topic" "tier" {
  #checkov:skip=CKV_GCP_83:Messages hold only a job id and a tier; Google-managed encryption at rest suffices and CMEK would add a KMS key to run.
  for_each = toset(local.tiers)

  name       = "${var.name_prefix}-${each.value}"
  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_topic" "dead_letter" {
  #checkov:skip=CKV_GCP_83:Messages hold only a job id and a tier; Google-managed encryption at rest suffices and CMEK would add a KMS key to run.
  name       = "${var.name_prefix}-dead-letter"
  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_subscription" "tier" {
  for_each = toset(local.tiers)

  name                       = "${var.name_prefix}-${each.value}-worker"
  topic                      = google_pubsub_topic.tier[each.value].id
  ack_deadline_seconds       = var.lease_s
  message_retention_duration = "604800s" # 7 days: a backfill can wait that long
  enable_message_ordering    = false

  # A scale-to-zero system can be quiet for weeks; the default 31-day inactivity
  # expiry would delete the subscription.
  expiration_policy {
    ttl = ""
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }
}

# The worker drains this subscription and fails each job it names. It has no
# dead-letter policy of its own: dead-lettering into itself would only loop, and an
# undeliverable message here is retried until the 7-day retention drops it.
resource "google_pubsub_subscription" "dead_letter" {
  name                       = "${var.name_prefix}-dead-letter-worker"
  topic                      = google_pubsub_topic.dead_letter.id
  ack_deadline_seconds       = var.lease_s
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = ""
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }
}

# Dead-lettering is done by the Pub/Sub service agent: it must publish to the
# dead-letter topic and subscribe to (ack on) each source subscription.
locals {
  pubsub_agent = "serviceAccount:service-${data.google_project.current.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

resource "google_pubsub_topic_iam_member" "dead_letter_agent_publisher" {
  topic  = google_pubsub_topic.dead_letter.id
  role   = "roles/pubsub.publisher"
  member = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "tier_agent_subscriber" {
  for_each = toset(local.tiers)

  subscription = google_pubsub_subscription.tier[each.value].id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}
