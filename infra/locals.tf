# Names and settings shared by several files, derived once from the variables.
locals {
  tiers = ["high", "standard", "batch"]

  uploads_bucket     = var.uploads_bucket != "" ? var.uploads_bucket : "${var.project_id}-${var.name_prefix}-uploads"
  results_bucket     = var.results_bucket != "" ? var.results_bucket : "${var.project_id}-${var.name_prefix}-results"
  build_bucket       = "${var.project_id}-${var.name_prefix}-build"
  firestore_location = var.firestore_location != "" ? var.firestore_location : var.region

  worker_job_name     = "${var.name_prefix}-worker"
  ingest_service_name = "${var.name_prefix}-ingest"

  # Cloud Run's deterministic service URL, known before the service exists, so that
  # ingest can be told its own address.
  ingest_run_url = "https://${local.ingest_service_name}-${data.google_project.current.number}.${var.region}.run.app"
  public_url     = var.public_url != "" ? var.public_url : local.ingest_run_url
  # scheme://host[:port] of public_url: what a browser sends as Origin from ingest's page.
  ingest_origin = regex("^https?://[^/]+", lower(local.public_url))
  # Browser origins the buckets admit: the shops' and ingest's own (its page).
  cors_origins = distinct(concat(var.allowed_origins, [local.ingest_origin]))
  # Every header a browser's signed PUT to the uploads bucket sends.
  signed_put_headers = [
    "Content-Type",
    "Content-Length",
    "x-goog-content-sha256",
    "x-goog-if-generation-match",
  ]

  # Cloud Run's minimum CPU and memory for each GPU type.
  gpu_minimums = {
    "nvidia-l4"           = { cpu = 4, memory_gib = 16, launch_stage = "GA" }
    "nvidia-rtx-pro-6000" = { cpu = 20, memory_gib = 80, launch_stage = "BETA" }
  }
  gpu = local.gpu_minimums[var.gpu_type]

  # Settings both ingest and workers read (cutout/settings.py). CUTOUT_MODEL_VERSION and
  # CUTOUT_WEIGHTS are baked into the images with the weights, never set here.
  common_env = {
    CUTOUT_BACKEND               = "gcp"
    CUTOUT_GCP_PROJECT           = var.project_id
    CUTOUT_GCP_REGION            = var.region
    CUTOUT_UPLOADS_BUCKET        = local.uploads_bucket
    CUTOUT_RESULTS_BUCKET        = local.results_bucket
    CUTOUT_TOPIC_PREFIX          = var.name_prefix
    CUTOUT_JOBS_COLLECTION       = "jobs"
    CUTOUT_KEYS_COLLECTION       = "keys"
    CUTOUT_WORKERS_COLLECTION    = "workers"
    CUTOUT_WORKER_JOB            = local.worker_job_name
    CUTOUT_PUBLIC_URL            = local.public_url
    CUTOUT_MAX_ATTEMPTS          = tostring(var.max_delivery_attempts)
    CUTOUT_LEASE_S               = tostring(var.lease_s)
    CUTOUT_JOB_TTL_DAYS          = tostring(var.job_ttl_days)
    CUTOUT_UPLOAD_RETENTION_DAYS = tostring(var.uploads_retention_days)
    CUTOUT_RESULT_RETENTION_DAYS = tostring(var.results_retention_days)
  }

  worker_env = merge(local.common_env, {
    CUTOUT_DEVICE      = "cuda"
    CUTOUT_IDLE_EXIT_S = tostring(var.worker_idle_exit_s)
    CUTOUT_BATCH_SIZE  = tostring(var.worker_batch_size)
  }, var.worker_extra_env)

  # Anonymous access is for the local demo only: every caller here presents a key.
  # Google's front end appends the client's address to X-Forwarded-For: one trusted hop.
  # The scheduler's identity comes last, so no extra env can leave /v1/scale unchecked.
  ingest_env = merge(local.common_env, {
    CUTOUT_MAX_WORKERS        = tostring(var.max_workers)
    CUTOUT_QUOTA_STORAGE_CA   = google_redis_instance.quotas.server_ca_certs[0].cert
    CUTOUT_ALLOW_ANONYMOUS    = "false"
    CUTOUT_TRUSTED_PROXY_HOPS = "1"
    CUTOUT_CORS_ORIGINS       = join(",", var.allowed_origins)
    # The page's publishable key (infra/page_key.tf): public by design, it is in the page.
    CUTOUT_PAGE_KEY = local.page_key
    }, var.ingest_extra_env, {
    CUTOUT_SCALE_CALLER = google_service_account.scheduler.email
  })
}
