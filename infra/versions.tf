# Provider and Terraform versions. The google provider is the only one used; every
# resource here is GA in it (Cloud Run job GPUs included).
terraform {
  required_version = ">= 1.9.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.45.0, < 8.0.0"
    }
  }

  # State stays local until you choose a backend; see README ("State").
}

provider "google" {
  project = var.project_id
  region  = var.region
}
