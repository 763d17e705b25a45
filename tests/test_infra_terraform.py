"""Static checks of infra/*.tf, parsed with python-hcl2: the properties the deployment
relies on (dead-lettering, private self-cleaning buckets, a GPU worker that scales to
zero, least-privilege IAM) and the names and settings the Python side expects."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import pytest

from cutout.settings import Settings
from tests.support.infra import INFRA, block, ref, terraform

TIERS = ["high", "standard", "batch"]
PRIMITIVE_ROLES = {"roles/owner", "roles/editor", "roles/viewer"}
PUBLIC_MEMBERS = {"allUsers", "allAuthenticatedUsers"}
DEFAULTS = Settings.model_validate({})


def _iam_members() -> list[tuple[str, str, dict[str, Any]]]:
    """(resource type, name, body) of every IAM grant in infra/."""
    return [
        (rtype, name, body)
        for (rtype, name), body in terraform().resources.items()
        if rtype.endswith(("_iam_member", "_iam_binding", "_iam_policy"))
    ]


def _grants(member_ref: str) -> set[tuple[str, str]]:
    """(resource type, role) pairs granted to a service account reference."""
    return {
        (rtype, body["role"])
        for rtype, _, body in _iam_members()
        if ref(body.get("member", "")) == member_ref
    }


# ---- Pub/Sub -------------------------------------------------------------------------


def test_tiers_and_names_follow_the_queue_contract() -> None:
    tf = terraform()
    assert tf.locals["tiers"] == TIERS
    assert tf.default("name_prefix") == DEFAULTS.topic_prefix
    assert tf.resource("google_pubsub_topic", "tier")["name"] == "${var.name_prefix}-${each.value}"
    sub = tf.resource("google_pubsub_subscription", "tier")
    assert sub["name"] == "${var.name_prefix}-${each.value}-worker"
    assert tf.resource("google_pubsub_topic", "dead_letter")["name"] == (
        "${var.name_prefix}-dead-letter"
    )
    assert tf.resource("google_pubsub_subscription", "dead_letter")["name"] == (
        "${var.name_prefix}-dead-letter-worker"
    )


def test_every_source_subscription_dead_letters_and_retries() -> None:
    subs = terraform().of_type("google_pubsub_subscription")
    assert set(subs) == {"tier", "dead_letter"}
    for name, sub in subs.items():
        assert block(sub, "expiration_policy")["ttl"] == "", f"{name} would expire when idle"
        assert "retry_policy" in sub, f"{name} has no retry policy"
        if ref(sub["topic"]) == "google_pubsub_topic.dead_letter.id":
            # The dead-letter subscription itself: dead-lettering into itself would loop.
            assert "dead_letter_policy" not in sub
            continue
        policy = block(sub, "dead_letter_policy")
        assert ref(policy["dead_letter_topic"]) == "google_pubsub_topic.dead_letter.id"
        assert ref(policy["max_delivery_attempts"]) == "var.max_delivery_attempts"
    assert terraform().default("max_delivery_attempts") == DEFAULTS.max_attempts


def test_pubsub_service_agent_can_dead_letter() -> None:
    tf = terraform()
    agent = "serviceAccount:service-${data.google_project.current.number}"
    assert tf.locals["pubsub_agent"].startswith(agent)
    publisher = tf.resource("google_pubsub_topic_iam_member", "dead_letter_agent_publisher")
    assert ref(publisher["topic"]) == "google_pubsub_topic.dead_letter.id"
    assert publisher["role"] == "roles/pubsub.publisher"
    subscriber = tf.resource("google_pubsub_subscription_iam_member", "tier_agent_subscriber")
    assert ref(subscriber["subscription"]) == "google_pubsub_subscription.tier[each.value].id"
    assert subscriber["role"] == "roles/pubsub.subscriber"


# ---- buckets -------------------------------------------------------------------------


def test_every_bucket_is_private_and_expires_objects() -> None:
    buckets = terraform().of_type("google_storage_bucket")
    assert {"uploads", "results"} <= set(buckets)
    for name, bucket in buckets.items():
        assert bucket["uniform_bucket_level_access"] is True, name
        assert bucket["public_access_prevention"] == "enforced", name
        rules = bucket.get("lifecycle_rule", [])
        assert any(
            block(rule, "action")["type"] == "Delete"
            and {"age", "days_since_custom_time"} & set(block(rule, "condition"))
            for rule in rules
        ), f"bucket {name} has no age-based delete rule"
    for rtype in ("google_storage_bucket_acl", "google_storage_default_object_acl"):
        assert not terraform().of_type(rtype), f"{rtype} bypasses uniform access"


def test_bucket_cors_admits_the_shops_ingest_and_every_signed_put_header() -> None:
    """A browser's direct upload preflights the signed PUT against the uploads bucket:
    every header the URL is signed with must be admitted, or the upload never starts."""
    tf = terraform()
    assert ref(tf.locals["cors_origins"]) == (
        "distinct(concat(var.allowed_origins, [local.ingest_origin]))"
    )
    assert "local.public_url" in tf.locals["ingest_origin"]
    assert tf.default("allowed_origins") == [], "no wildcard origin by default"
    uploads = block(tf.resource("google_storage_bucket", "uploads"), "cors")
    results = block(tf.resource("google_storage_bucket", "results"), "cors")
    assert ref(uploads["origin"]) == ref(results["origin"]) == "local.cors_origins"
    assert "PUT" in uploads["method"] and "GET" in results["method"]
    assert ref(uploads["response_header"]) == "local.signed_put_headers"
    signed = {h.lower() for h in tf.locals["signed_put_headers"]}
    assert {"content-type", "x-goog-if-generation-match", "x-goog-content-sha256"} <= signed


def test_ingest_knows_the_shop_origins_and_serves_a_page_key() -> None:
    env = terraform().locals["ingest_env"]
    assert re.search(r'CUTOUT_CORS_ORIGINS\s*=\s*join\(",", var.allowed_origins\)', env)
    assert re.search(r"CUTOUT_PAGE_KEY\s*=\s*local.page_key", env)
    page_key = terraform().locals["page_key"]
    assert page_key.startswith("pk_live_${random_id.page_key_id.hex}_")
    assert terraform().resource("random_id", "page_key_id")["byte_length"] == 6  # 12 hex


def test_retention_is_7_days_for_uploads_and_30_for_results() -> None:
    """Uploads count from creation (direct uploads carry no custom time); results count
    from their custom time, which writes set and cache hits move forward (cutout/gcp/
    gcs.py), so a result served on day 29 is not deleted on day 30. One rule each: an
    extra age rule would delete served results after all."""
    tf = terraform()
    for bucket, condition, variable, days in (
        ("uploads", "age", "uploads_retention_days", 7),
        ("results", "days_since_custom_time", "results_retention_days", 30),
    ):
        rule = block(tf.resource("google_storage_bucket", bucket), "lifecycle_rule")
        assert block(rule, "action")["type"] == "Delete"
        assert set(block(rule, "condition")) == {condition}, bucket
        assert ref(block(rule, "condition")[condition]) == f"var.{variable}"
        assert tf.default(variable) == days


def test_results_outlive_the_jobs_that_point_at_them() -> None:
    """A job is created no later than the write or hit that restarts its results' clocks,
    so results kept at least as long as jobs are never missing from a live job."""
    tf = terraform()
    assert tf.default("results_retention_days") >= tf.default("job_ttl_days")


def test_terraform_retention_is_the_settings_retention() -> None:
    """The local family sweeps by the settings; GCP expires by Terraform's rules: one
    set of numbers, handed to the services too."""
    tf, defaults = terraform(), Settings()
    env = tf.locals["common_env"]
    for variable, setting in (
        ("uploads_retention_days", "upload_retention_days"),
        ("results_retention_days", "result_retention_days"),
        ("job_ttl_days", "job_ttl_days"),
    ):
        assert tf.default(variable) == getattr(defaults, setting), variable
        assert env[f"CUTOUT_{setting.upper()}"] == f"${{tostring(var.{variable})}}"


# ---- Firestore -----------------------------------------------------------------------


def test_firestore_ttl_and_status_store_indexes() -> None:
    tf = terraform()
    db = tf.resource("google_firestore_database", "main")
    assert db["name"] == "(default)" and db["type"] == "FIRESTORE_NATIVE"
    ttl = tf.resource("google_firestore_field", "ttl")
    assert ttl["field"] == "expire_at" and "ttl_config" in ttl
    assert ttl["for_each"] == '${toset(["jobs", "workers", "workers_lives"])}'
    index = tf.resource("google_firestore_index", "jobs")
    assert index["collection"] == "jobs"
    first, second = index["fields"]
    assert ref(first["field_path"]) == "each.value"
    assert (second["field_path"], second["order"]) == ("created_at", "DESCENDING")
    assert sorted(tf.locals["job_query_fields"].values()) == [
        "client.batch_id",
        "client.key_id",
        "state",
    ]


def test_terraform_declares_every_index_the_status_store_needs() -> None:
    from cutout.gcp.firestore import COMPOSITE_INDEXES

    tf = terraform()
    declared = {
        ((field, "ASCENDING"), ("created_at", "DESCENDING"))
        for field in tf.locals["job_query_fields"].values()
    }
    backlog = tf.resource("google_firestore_index", "jobs_backlog")
    declared.add(tuple((f["field_path"], f["order"]) for f in backlog["fields"]))
    assert declared == {index.fields for index in COMPOSITE_INDEXES}


# ---- Cloud Run -----------------------------------------------------------------------


def test_worker_job_requests_one_gpu_within_cloud_run_limits() -> None:
    tf = terraform()
    job = tf.resource("google_cloud_run_v2_job", "worker")
    task = block(block(job, "template"), "template")
    assert ref(block(task, "node_selector")["accelerator"]) == "var.gpu_type"
    assert tf.default("gpu_type") == "nvidia-l4"
    limits = block(block(task, "containers"), "resources")["limits"]
    assert limits["nvidia.com/gpu"] == "1"
    minimum = tf.locals["gpu_minimums"]["nvidia-l4"]
    assert tf.default("worker_cpu") >= minimum["cpu"] == 4
    assert tf.default("worker_memory_gib") >= minimum["memory_gib"] == 16
    assert task["timeout"] == "${var.worker_task_timeout_s}s"
    assert tf.default("worker_task_timeout_s") < 3600
    assert ref(task["max_retries"]) == "var.worker_max_retries"
    assert tf.default("worker_idle_exit_s") < tf.default("worker_task_timeout_s")
    assert ref(task["service_account"]) == "google_service_account.worker.email"
    assert tf.locals["worker_job_name"] == "${var.name_prefix}-worker"


def test_ingest_scales_to_zero_on_cpu() -> None:
    service = terraform().resource("google_cloud_run_v2_service", "ingest")
    template = block(service, "template")
    assert block(template, "scaling")["min_instance_count"] == 0
    resources = block(block(template, "containers"), "resources")
    assert "nvidia.com/gpu" not in resources["limits"]
    assert resources["cpu_idle"] is True
    assert "node_selector" not in template
    assert ref(template["service_account"]) == "google_service_account.ingest.email"


def test_every_cutout_env_var_is_a_real_setting() -> None:
    """An unknown CUTOUT_* variable stops the app at start (Settings forbids extras)."""
    env = set(terraform().locals["common_env"])
    for name in ("worker_env", "ingest_env"):
        merged = terraform().locals[name]
        assert merged.startswith("${merge(local.common_env, {"), name
        env.update(re.findall(r"\b(CUTOUT_[A-Z0-9_]+)\s*=", merged))
    fields = set(Settings.model_fields)
    unknown = sorted(k for k in env if k.removeprefix("CUTOUT_").lower() not in fields)
    assert not unknown, f"not settings in cutout/settings.py: {unknown}"
    assert {"CUTOUT_BACKEND", "CUTOUT_WORKER_JOB", "CUTOUT_IDLE_EXIT_S"} <= env


def test_ingest_refuses_anonymous_callers_and_reads_the_key_pepper_from_secret_manager() -> None:
    tf = terraform()
    assert re.search(r'\bCUTOUT_ALLOW_ANONYMOUS = "false"', tf.locals["ingest_env"])
    container = block(block(tf.resource("google_cloud_run_v2_service", "ingest"), "template"),
                      "containers")  # fmt: skip
    [pepper] = [e for e in container["env"] if e["name"] == "CUTOUT_KEY_PEPPER"]
    source = block(block(pepper, "value_source"), "secret_key_ref")
    assert ref(source["secret"]) == "google_secret_manager_secret.key_pepper.secret_id"
    assert ref(source["version"]) == "google_secret_manager_secret_version.key_pepper.version"
    version = tf.resource("google_secret_manager_secret_version", "key_pepper")
    assert "secret_data" not in version, "a plain secret_data would put the pepper in state"
    assert ref(version["secret_data_wo"]) == "ephemeral.random_password.key_pepper.result"
    grant = tf.resource("google_secret_manager_secret_iam_member", "ingest_reads_key_pepper")
    assert ref(grant["secret_id"]) == "google_secret_manager_secret.key_pepper.id"


def test_scheduler_posts_to_scale_with_oidc() -> None:
    job = terraform().resource("google_cloud_scheduler_job", "backlog_check")
    target = block(job, "http_target")
    assert target["http_method"] == "POST"
    assert target["uri"].endswith("/v1/scale")
    oidc = block(target, "oidc_token")
    assert ref(oidc["service_account_email"]) == "google_service_account.scheduler.email"
    assert terraform().default("backlog_check_schedule") == "* * * * *"


# ---- IAM -----------------------------------------------------------------------------


def test_no_primitive_roles_and_nothing_public_but_ingest() -> None:
    members = _iam_members()
    assert members
    for rtype, name, body in members:
        roles = [body.get("role", "")] + [b.get("role", "") for b in body.get("binding", [])]
        assert not PRIMITIVE_ROLES & set(roles), f"{rtype}.{name} grants a primitive role"
        if body.get("member") in PUBLIC_MEMBERS:
            assert (rtype, name) == ("google_cloud_run_v2_service_iam_member", "ingest_public")
            assert body["role"] == "roles/run.invoker"
    project_roles = {
        body["role"] for rtype, _, body in members if rtype == "google_project_iam_member"
    }
    assert project_roles == {"roles/datastore.user", "roles/logging.logWriter"}


def test_ingest_account_has_exactly_its_roles() -> None:
    assert _grants("google_service_account.ingest.member") == {
        ("google_pubsub_topic_iam_member", "roles/pubsub.publisher"),
        ("google_storage_bucket_iam_member", "roles/storage.objectUser"),
        ("google_storage_bucket_iam_member", "roles/storage.objectViewer"),
        ("google_project_iam_member", "roles/datastore.user"),
        ("google_cloud_run_v2_job_iam_member", "roles/run.jobsExecutorWithOverrides"),
        ("google_service_account_iam_member", "roles/iam.serviceAccountTokenCreator"),
        ("google_secret_manager_secret_iam_member", "roles/secretmanager.secretAccessor"),
    }
    signer = terraform().resource("google_service_account_iam_member", "ingest_signs_as_itself")
    assert ref(signer["service_account_id"]) == "google_service_account.ingest.name"
    uploads = terraform().resource("google_storage_bucket_iam_member", "ingest_uploads")
    assert ref(uploads["bucket"]) == "google_storage_bucket.uploads.name"


def test_worker_account_has_exactly_its_roles() -> None:
    assert _grants("google_service_account.worker.member") == {
        ("google_pubsub_subscription_iam_member", "roles/pubsub.subscriber"),
        ("google_pubsub_topic_iam_member", "roles/pubsub.publisher"),
        ("google_storage_bucket_iam_member", "roles/storage.objectViewer"),
        ("google_storage_bucket_iam_member", "roles/storage.objectCreator"),
        # customers' backfill destinations, as var.backfill_destination_buckets lists them
        ("google_storage_bucket_iam_member", "roles/storage.objectUser"),
        ("google_project_iam_member", "roles/datastore.user"),
    }
    tf = terraform()
    subscriptions = {
        ref(tf.resource("google_pubsub_subscription_iam_member", n)["subscription"])
        for n in ("worker_tiers", "worker_dead_letter")
    }
    assert subscriptions == {
        "google_pubsub_subscription.tier[each.value].id",
        "google_pubsub_subscription.dead_letter.id",
    }
    dead_letter = tf.resource("google_pubsub_topic_iam_member", "worker_dead_letter_publish")
    assert ref(dead_letter["topic"]) == "google_pubsub_topic.dead_letter.id"
    buckets = {
        name: ref(tf.resource("google_storage_bucket_iam_member", name)["bucket"])
        for name in ("worker_uploads", "worker_results_create", "worker_results_read")
    }
    assert buckets == {
        "worker_uploads": "google_storage_bucket.uploads.name",
        "worker_results_create": "google_storage_bucket.results.name",
        "worker_results_read": "google_storage_bucket.results.name",
    }


# ---- formatting ----------------------------------------------------------------------


def test_terraform_files_are_formatted() -> None:
    exe = shutil.which("terraform")
    if exe is None:
        pytest.skip("terraform is not on PATH: `terraform fmt -check` NOT CHECKED here")
    proc = subprocess.run(
        [exe, "fmt", "-check", "-recursive", "-diff", str(INFRA)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, f"run `terraform fmt -recursive infra`:\n{proc.stdout}"


def test_scale_always_checks_the_schedulers_oidc_token() -> None:
    """Ingest verifies /v1/scale's token against CUTOUT_SCALE_CALLER and the audience
    CUTOUT_PUBLIC_URL: Terraform sets the first to the very account the scheduler signs
    as (last in the merge, so no extra env unsets it) and the scheduler's audience to the
    second; and it trusts exactly Google's front end in X-Forwarded-For."""
    tf = terraform()
    env = tf.locals["ingest_env"]
    caller = re.search(r"\bCUTOUT_SCALE_CALLER\s*=\s*([\w.]+)", env)
    assert caller is not None, "Terraform never sets CUTOUT_SCALE_CALLER: /v1/scale is open"
    assert caller.group(1) == "google_service_account.scheduler.email"
    assert env.rfind("var.ingest_extra_env") < caller.start()
    oidc = block(block(tf.resource("google_cloud_scheduler_job", "backlog_check"), "http_target"),
                 "oidc_token")  # fmt: skip
    assert ref(oidc["service_account_email"]) == "google_service_account.scheduler.email"
    assert ref(oidc["audience"]) == ref(tf.locals["common_env"]["CUTOUT_PUBLIC_URL"])
    assert re.search(r'\bCUTOUT_TRUSTED_PROXY_HOPS\s*=\s*"1"', env)
