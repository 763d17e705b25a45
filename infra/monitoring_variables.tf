# Monitoring inputs: where alerts go, their thresholds, and the optional budget. The
# defaults are the old service's analysis: cold starts > 15% over 1 h, P95 > 20 s over
# 5 min, efficiency < 60% over 1 h, cost > $0.04 per request, errors > 1% over 5 min.

variable "alerts_enabled" {
  description = "Turn the alert policies on (they exist either way)."
  type        = bool
  default     = true
}

variable "alert_notification_channels" {
  description = "Existing Cloud Monitoring notification channel ids (projects/…/notificationChannels/…) every alert and the budget notify."
  type        = list(string)
  default     = []
}

variable "alert_email" {
  description = "An email address to notify; empty creates no email channel."
  type        = string
  default     = ""
}

variable "alert_cold_start_share" {
  description = "Alert when more than this share of finished jobs waited for a worker start, over 1 h."
  type        = number
  default     = 0.15
}

variable "alert_p95_latency_s" {
  description = "Alert when the P95 of submit-to-done of a high or standard tier exceeds this, over 5 min."
  type        = number
  default     = 20
}

variable "alert_min_busy_share" {
  description = "Alert when workers were busy for less than this share of their lives, over 1 h."
  type        = number
  default     = 0.6
}

variable "alert_max_cost_per_request_usd" {
  description = "Alert when GPU worker cost per accepted job request exceeds this (USD), over 1 h."
  type        = number
  default     = 0.04
}

variable "alert_worker_usd_per_second" {
  description = "What one worker costs per second (USD): L4 + 4 vCPU + 16 GiB at cutout/data/prices.toml's prices. Change both together."
  type        = number
  default     = 0.0002907
}

variable "alert_max_error_share" {
  description = "Alert when more than this share of jobs fail, or of ingest answers are 5xx, over 5 min."
  type        = number
  default     = 0.01
}

variable "alert_oldest_unacked_age_s" {
  description = "Per tier: alert when its oldest unacked message is older than this many seconds (batch may wait by design)."
  type        = map(number)
  default = {
    high     = 60
    standard = 300
    batch    = 21600
  }

  validation {
    condition     = alltrue([for tier in ["high", "standard", "batch"] : contains(keys(var.alert_oldest_unacked_age_s), tier)])
    error_message = "alert_oldest_unacked_age_s needs a value for each tier: high, standard, batch."
  }
}

variable "alert_max_dead_letters" {
  description = "Alert when more messages than this are dead-lettered in 5 min."
  type        = number
  default     = 0
}

variable "billing_account" {
  description = "Billing account id (XXXXXX-XXXXXX-XXXXXX) for a monthly budget on this project; empty creates no budget."
  type        = string
  default     = ""
}

variable "budget_monthly_amount" {
  description = "The monthly budget, in budget_currency units."
  type        = number
  default     = 100
}

variable "budget_currency" {
  description = "Currency of the budget; must be the billing account's currency."
  type        = string
  default     = "USD"
}

variable "budget_alert_thresholds" {
  description = "Shares of the budget (actual spend) at which the budget notifies."
  type        = list(number)
  default     = [0.5, 0.9, 1.0]
}
