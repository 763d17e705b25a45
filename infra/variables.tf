# Inputs. Only project_id is required; everything else has a default that deploys a
# working, scale-to-zero installation. The cost knobs are grouped at the end.

variable "project_id" {
  description = "The GCP project to deploy into."
  type        = string
}

variable "region" {
  description = "Region for Cloud Run, Artifact Registry, buckets and Scheduler. Must offer Cloud Run GPUs (e.g. us-central1, europe-west1, europe-west4, asia-southeast1)."
  type        = string
  default     = "us-central1"
}

variable "name_prefix" {
  description = "Prefix of every resource name; also CUTOUT_TOPIC_PREFIX (topics are <prefix>-<tier>)."
  type        = string
  default     = "cutout"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix: 3-20 characters, lower-case letters, digits and dashes, starting with a letter."
  }
}

variable "uploads_bucket" {
  description = "Name of the uploads bucket; empty means <project_id>-<name_prefix>-uploads."
  type        = string
  default     = ""
}

variable "results_bucket" {
  description = "Name of the results bucket; empty means <project_id>-<name_prefix>-results."
  type        = string
  default     = ""
}

variable "firestore_location" {
  description = "Firestore location (a region such as us-central1, or a multi-region such as nam5); empty means var.region."
  type        = string
  default     = ""
}

variable "public_url" {
  description = "Base URL clients use to reach ingest (CUTOUT_PUBLIC_URL); empty means the service's run.app URL."
  type        = string
  default     = ""
}

variable "allowed_origins" {
  description = "Your shops' browser origins (exact, e.g. https://shop.example): admitted by the buckets' CORS (signed PUT uploads, result fetches) and ingest's deployment-wide CORS list (CUTOUT_CORS_ORIGINS). Ingest's own origin is always added. Publishable keys name their own origins too (cutout keys create --origin)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for o in var.allowed_origins : can(regex("^https?://[a-z0-9.:\\[\\]-]+$", o))])
    error_message = "allowed_origins: exact origins only (scheme://host[:port], lower case, no path, no *)."
  }
}

variable "page_key_version" {
  description = "Bump to rotate the publishable key the served page sends (CUTOUT_PAGE_KEY); revoke the old one with cutout keys revoke."
  type        = number
  default     = 1
}

variable "ingest_public" {
  description = "Let anyone on the internet call ingest (browsers upload and poll directly). Set false to require IAM (roles/run.invoker) on every request."
  type        = bool
  default     = true
}

variable "initial_worker_image" {
  description = "Image the worker job is created with. Cloud Build deploys the real one afterwards, and Terraform then leaves the image alone."
  type        = string
  default     = "us-docker.pkg.dev/cloudrun/container/job:latest"
}

variable "initial_ingest_image" {
  description = "Image the ingest service is created with. Cloud Build deploys the real one afterwards, and Terraform then leaves the image alone."
  type        = string
  default     = "us-docker.pkg.dev/cloudrun/container/hello:latest"
}

variable "uploads_retention_days" {
  description = "Uploads are deleted this many days after they were written."
  type        = number
  default     = 7
}

variable "results_retention_days" {
  description = "Results are deleted this many days after they were last written or served (days since their custom time). At or above job_ttl_days, no job points at a deleted result."
  type        = number
  default     = 30
}

variable "job_ttl_days" {
  description = "Job documents expire (Firestore TTL on expire_at) after this many days: CUTOUT_JOB_TTL_DAYS."
  type        = number
  default     = 30
}

variable "key_pepper_version" {
  description = "Bump to rotate the API key pepper (CUTOUT_KEY_PEPPER, in Secret Manager). Every existing key stops working: mint new ones."
  type        = number
  default     = 1
}

variable "max_delivery_attempts" {
  description = "Deliveries of one message before Pub/Sub dead-letters it (5-100); also CUTOUT_MAX_ATTEMPTS."
  type        = number
  default     = 5

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "Pub/Sub accepts 5 to 100 delivery attempts."
  }
}

variable "lease_s" {
  description = "Ack deadline of the subscriptions in seconds (10-600); also CUTOUT_LEASE_S. The worker extends it while it works."
  type        = number
  default     = 60

  validation {
    condition     = var.lease_s >= 10 && var.lease_s <= 600
    error_message = "Pub/Sub ack deadlines are 10 to 600 seconds."
  }
}

variable "backlog_check_schedule" {
  description = "Cron schedule of the Cloud Scheduler call to POST /v1/scale (adds workers when a backlog piles up)."
  type        = string
  default     = "* * * * *"
}

variable "worker_extra_env" {
  description = "More environment variables for the worker (CUTOUT_* names must be real settings: unknown ones stop the worker at start)."
  type        = map(string)
  default     = {}
}

variable "ingest_extra_env" {
  description = "More environment variables for ingest (same rule as worker_extra_env)."
  type        = map(string)
  default     = {}
}

variable "ingest_subnet_cidr" {
  description = "Private range of the subnet ingest's Direct VPC egress takes addresses from (two per instance; /26 at least). Must not overlap your other networks."
  type        = string
  default     = "10.8.0.0/24"
}

variable "deletion_protection" {
  description = "Protect the Cloud Run job/service and the Firestore database from terraform destroy."
  type        = bool
  default     = true
}

# ---- cost knobs -------------------------------------------------------------------

variable "gpu_type" {
  description = "GPU of each worker task: nvidia-l4 (24 GB, the cheapest that fits the model) or nvidia-rtx-pro-6000 (96 GB, preview; needs 20 CPU / 80 GiB)."
  type        = string
  default     = "nvidia-l4"

  validation {
    condition     = contains(["nvidia-l4", "nvidia-rtx-pro-6000"], var.gpu_type)
    error_message = "gpu_type must be nvidia-l4 or nvidia-rtx-pro-6000."
  }
}

variable "worker_cpu" {
  description = "vCPUs per worker task (decode/encode threads run here). At least the GPU's minimum: 4 for L4, 20 for RTX PRO 6000."
  type        = number
  default     = 4
}

variable "worker_memory_gib" {
  description = "Memory per worker task in GiB. At least the GPU's minimum: 16 for L4, 80 for RTX PRO 6000."
  type        = number
  default     = 16
}

variable "worker_idle_exit_s" {
  description = "Keep-alive: a worker exits after this many idle seconds (CUTOUT_IDLE_EXIT_S). Longer means fewer cold starts and more idle GPU billed."
  type        = number
  default     = 60

  validation {
    condition     = var.worker_idle_exit_s > 0
    error_message = "worker_idle_exit_s must be positive: 0 would keep a GPU task alive until its timeout."
  }
}

variable "worker_batch_size" {
  description = "Images per GPU batch (CUTOUT_BATCH_SIZE, 1-64). Larger batches raise throughput when a backlog exists; they never delay a lone job by more than CUTOUT_BATCH_WAIT_MS."
  type        = number
  default     = 4

  validation {
    condition     = var.worker_batch_size >= 1 && var.worker_batch_size <= 64
    error_message = "worker_batch_size must be 1 to 64."
  }
}

variable "max_workers" {
  description = "Most GPU workers running at once (CUTOUT_MAX_WORKERS): the launcher never starts more. Your Cloud Run GPU quota in the region is the hard ceiling."
  type        = number
  default     = 4

  validation {
    condition     = var.max_workers >= 1
    error_message = "max_workers must be at least 1."
  }
}

variable "worker_task_timeout_s" {
  description = "Longest life of one worker task in seconds; Cloud Run caps GPU tasks at 1 h. The worker drains and exits on idle long before."
  type        = number
  default     = 3300

  validation {
    condition     = var.worker_task_timeout_s >= 300 && var.worker_task_timeout_s < 3600
    error_message = "worker_task_timeout_s must be at least 300 and under 3600 (the GPU task limit)."
  }
}

variable "worker_max_retries" {
  description = "Times Cloud Run restarts a crashed worker task. Messages are redelivered by Pub/Sub anyway, so a retry only shortens recovery."
  type        = number
  default     = 1
}

variable "ingest_max_instances" {
  description = "Upper bound on ingest instances (CPU only, scales to zero)."
  type        = number
  default     = 20
}

variable "quota_redis_tier" {
  description = "Memorystore tier of the quota counters: BASIC (one node; a restart forgets the counts, so quotas restart from zero) or STANDARD_HA (a replica, about twice the price)."
  type        = string
  default     = "BASIC"

  validation {
    condition     = contains(["BASIC", "STANDARD_HA"], var.quota_redis_tier)
    error_message = "quota_redis_tier must be BASIC or STANDARD_HA."
  }
}

variable "quota_redis_memory_gb" {
  description = "Memorystore size in GB (1 is the minimum; one counter is about 100 bytes, so 1 GB holds millions of callers' windows)."
  type        = number
  default     = 1
}

variable "ingest_concurrency" {
  description = "Requests one ingest instance serves at once. Each may hold a decoded photo of up to CUTOUT_MAX_PIXELS, so memory bounds this."
  type        = number
  default     = 8
}

variable "ingest_memory" {
  description = "Memory per ingest instance."
  type        = string
  default     = "2Gi"
}

variable "backfill_source_buckets" {
  description = "Customer buckets backfills read by reference: the worker (and the backfill job, to list them) get roles/storage.objectViewer on each. Which prefixes a key may name is set per key (cutout keys create --source)."
  type        = list(string)
  default     = []
}

variable "backfill_destination_buckets" {
  description = "Customer buckets backfills write results into: the worker (and the backfill job, for its report) get roles/storage.objectUser on each. Per key: cutout keys create --dest."
  type        = list(string)
  default     = []
}

variable "backfill_tasks" {
  description = "Parallel tasks of the backfill job; each lists and submits one shard of the source prefix."
  type        = number
  default     = 8

  validation {
    condition     = var.backfill_tasks >= 1 && var.backfill_tasks <= 100
    error_message = "backfill_tasks must be between 1 and 100."
  }
}

variable "backfill_task_timeout_s" {
  description = "How long one backfill task may run (it resumes on a retry)."
  type        = number
  default     = 86400
}
