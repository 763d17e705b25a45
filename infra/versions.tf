# Provider and Terraform versions. Every resource here is GA in the google provider
# (Cloud Run job GPUs included); random only makes the key pepper, ephemerally, and 1.11
# is the first Terraform with the write-only attribute that keeps it out of state.
terraform {
  required_version = ">= 1.11.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.45.0, < 8.0.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.7.0, < 4.0.0"
    }
  }

  # State stays local until you choose a backend; see README ("State").
}

provider "google" {
  project = var.project_id
  region  = var.region
}
