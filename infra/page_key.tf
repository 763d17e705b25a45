# The publishable key the page ingest serves sends, since anonymous access is off here.
# Terraform only generates the token (pk_live_<12 hex>_<secret>, cutout/keys.py); ingest
# creates its key record at start, bound to ingest's own origin (ingest/page.py), because
# the record holds HMAC(pepper, token) and Terraform can compute no HMAC. A publishable
# token is public by design (every copy of the page holds it), so a plain environment
# variable is fine; the origin binding and the per-client quotas are what protect it.
resource "random_id" "page_key_id" {
  byte_length = 6
  keepers = {
    version = var.page_key_version
  }
}

resource "random_password" "page_key_secret" {
  length  = 43
  special = false
  keepers = {
    version = var.page_key_version
  }
}

locals {
  page_key = "pk_live_${random_id.page_key_id.hex}_${random_password.page_key_secret.result}"
}
