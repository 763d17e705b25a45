# The GPU worker: a Cloud Run job, started by ingest (run with a task-count override)
# when work arrives or a backlog grows, and gone when idle. Nothing runs, and nothing
# is billed, while there is no work.
resource "google_cloud_run_v2_job" "worker" {
  name                = local.worker_job_name
  location            = var.region
  launch_stage        = local.gpu.launch_stage
  deletion_protection = var.deletion_protection

  template {
    # One task per execution unless the launcher overrides it; parallelism 0 lets every
    # requested task run at once (the launcher enforces CUTOUT_MAX_WORKERS).
    task_count  = 1
    parallelism = 0

    template {
      service_account               = google_service_account.worker.email
      timeout                       = "${var.worker_task_timeout_s}s"
      max_retries                   = var.worker_max_retries
      execution_environment         = "EXECUTION_ENVIRONMENT_GEN2"
      gpu_zonal_redundancy_disabled = true # cheaper; a lost zone only delays redelivery

      node_selector {
        accelerator = var.gpu_type
      }

      containers {
        image = var.initial_worker_image

        resources {
          limits = {
            cpu              = tostring(var.worker_cpu)
            memory           = "${var.worker_memory_gib}Gi"
            "nvidia.com/gpu" = "1"
          }
        }

        dynamic "env" {
          for_each = local.worker_env
          content {
            name  = env.key
            value = env.value
          }
        }
      }
    }
  }

  lifecycle {
    # Cloud Build rolls out new images; Terraform owns everything else.
    ignore_changes = [template[0].template[0].containers[0].image]

    precondition {
      condition     = var.worker_cpu >= local.gpu.cpu && var.worker_memory_gib >= local.gpu.memory_gib
      error_message = "worker_cpu/worker_memory_gib are below Cloud Run's minimum for ${var.gpu_type}: ${local.gpu.cpu} CPU, ${local.gpu.memory_gib} GiB."
    }
    precondition {
      condition     = var.worker_idle_exit_s < var.worker_task_timeout_s
      error_message = "worker_idle_exit_s must be shorter than worker_task_timeout_s, or idle workers are killed instead of exiting."
    }
  }

  depends_on = [google_project_service.enabled]
}
