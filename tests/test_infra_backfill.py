"""Static checks of infra/backfill.tf (parsed with python-hcl2): the backfill lister is a
Cloud Run job with parallel tasks running the CLI's own ``cutout backfill`` (each task
takes its shard from CLOUD_RUN_TASK_INDEX/COUNT), under its own least-privilege account;
customers' buckets are granted to the worker only as the variables list them."""

from __future__ import annotations

from typing import Any

from tests.support.infra import block, ref, terraform

BACKFILL_SA = "google_service_account.backfill.member"
WORKER_SA = "google_service_account.worker.member"


def _grants_to(member: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (rtype, name): body
        for (rtype, name), body in terraform().resources.items()
        if rtype.endswith("_iam_member") and ref(body.get("member", "")) == member
    }


def test_the_backfill_job_runs_the_cli_in_parallel_tasks_as_its_own_account() -> None:
    tf = terraform()
    job = tf.resource("google_cloud_run_v2_job", "backfill")
    template = block(job, "template")
    assert ref(template["task_count"]) == "var.backfill_tasks"
    assert ref(template["parallelism"]) == "var.backfill_tasks"
    task = block(template, "template")
    assert ref(task["service_account"]) == "google_service_account.backfill.email"
    container = block(task, "containers")
    assert container["command"] == ["python", "-m", "cutout"]
    assert container["args"][0] == "backfill"
    env = {e["name"]: e for e in container["env"]}
    assert "value_source" in env["CUTOUT_API_KEY"], "the key comes from Secret Manager"
    assert tf.default("backfill_tasks") > 1


def test_the_backfill_account_has_least_privilege() -> None:
    grants = _grants_to(BACKFILL_SA)
    roles = {(rtype, body["role"]) for (rtype, _), body in grants.items()}
    assert roles == {
        ("google_storage_bucket_iam_member", "roles/storage.objectViewer"),
        ("google_storage_bucket_iam_member", "roles/storage.objectUser"),
        ("google_secret_manager_secret_iam_member", "roles/secretmanager.secretAccessor"),
    }
    for (rtype, name), body in grants.items():
        if rtype == "google_storage_bucket_iam_member":
            assert ref(body["for_each"]).startswith("toset(var.backfill_"), name
            assert ref(body["bucket"]) == "each.value", name
    secret = grants[("google_secret_manager_secret_iam_member", "backfill_reads_api_key")]
    assert ref(secret["secret_id"]) == "google_secret_manager_secret.backfill_api_key.id"


def test_customer_buckets_are_granted_to_the_worker_only_as_listed() -> None:
    tf = terraform()
    reads = tf.resource("google_storage_bucket_iam_member", "worker_reads_backfill_sources")
    writes = tf.resource("google_storage_bucket_iam_member", "worker_writes_backfill_destinations")
    assert (ref(reads["member"]), reads["role"]) == (WORKER_SA, "roles/storage.objectViewer")
    assert (ref(writes["member"]), writes["role"]) == (WORKER_SA, "roles/storage.objectUser")
    assert ref(reads["for_each"]) == "toset(var.backfill_source_buckets)"
    assert ref(writes["for_each"]) == "toset(var.backfill_destination_buckets)"
    assert tf.default("backfill_source_buckets") == []  # nothing granted unless asked
    assert tf.default("backfill_destination_buckets") == []
    ingest = {body["role"] for body in _grants_to("google_service_account.ingest.member").values()
              if "backfill" in str(body.get("for_each", ""))}  # fmt: skip
    assert not ingest, "ingest never reads a photo given by reference"
