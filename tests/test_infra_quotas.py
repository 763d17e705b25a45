"""infra/quotas.tf and ingest.tf agree with cutout/quotas.py: a shared Redis (AUTH, TLS)
in a private network ingest reaches over Direct VPC egress, its URL a secret that only
ingest reads, passed in the settings the limiter reads."""

from __future__ import annotations

import re
from typing import Any

from cutout.settings import Settings
from tests.support.infra import block, ref, terraform


def _ingest_container() -> dict[str, Any]:
    template = block(terraform().resource("google_cloud_run_v2_service", "ingest"), "template")
    return block(template, "containers")


def test_redis_is_private_authenticated_and_encrypted() -> None:
    tf = terraform()
    redis = tf.resource("google_redis_instance", "quotas")
    assert ref(redis["authorized_network"]) == "google_compute_network.private.id"
    assert redis["auth_enabled"] is True
    assert redis["transit_encryption_mode"] == "SERVER_AUTHENTICATION"
    assert redis["redis_configs"]["maxmemory-policy"] == "volatile-ttl"
    assert tf.default("quota_redis_tier") == "BASIC"
    assert tf.resource("google_compute_network", "private")["auto_create_subnetworks"] is False
    firewall = tf.resource("google_compute_firewall", "private_deny_ingress")
    assert firewall["direction"] == "INGRESS" and block(firewall, "deny")["protocol"] == "all"
    services = tf.locals["services"]
    for api in ("redis", "compute", "secretmanager"):
        assert f'"{api}.googleapis.com"' in services, api


def test_ingest_reaches_redis_over_direct_vpc_egress() -> None:
    template = block(terraform().resource("google_cloud_run_v2_service", "ingest"), "template")
    access = block(template, "vpc_access")
    assert access["egress"] == "PRIVATE_RANGES_ONLY"
    interface = block(access, "network_interfaces")
    assert ref(interface["network"]) == "google_compute_network.private.id"
    assert ref(interface["subnetwork"]) == "google_compute_subnetwork.ingest.id"
    subnet = terraform().resource("google_compute_subnetwork", "ingest")
    assert ref(subnet["network"]) == "google_compute_network.private.id"
    assert int(terraform().default("ingest_subnet_cidr").split("/")[1]) <= 26


def test_ingest_gets_the_redis_url_from_its_secret_and_the_ca_as_a_setting() -> None:
    tf = terraform()
    envs = {e["name"]: e for e in _ingest_container()["env"]}
    uri = envs["CUTOUT_QUOTA_STORAGE_URI"]
    secret_ref = block(block(uri, "value_source"), "secret_key_ref")
    assert ref(secret_ref["secret"]) == "google_secret_manager_secret.quota_storage_uri.secret_id"
    version = tf.resource("google_secret_manager_secret_version", "quota_storage_uri")
    assert re.fullmatch(
        r"rediss://:\$\{google_redis_instance\.quotas\.auth_string\}@"
        r"\$\{google_redis_instance\.quotas\.host\}:\$\{google_redis_instance\.quotas\.port\}/0",
        version["secret_data"],
    )
    reader = tf.resource(
        "google_secret_manager_secret_iam_member", "ingest_reads_quota_storage_uri"
    )
    assert ref(reader["member"]) == "google_service_account.ingest.member"
    assert reader["role"] == "roles/secretmanager.secretAccessor"
    assert (
        "CUTOUT_QUOTA_STORAGE_CA = google_redis_instance.quotas.server_ca_certs[0].cert"
        in (tf.locals["ingest_env"])
    )
    for name in ("CUTOUT_QUOTA_STORAGE_URI", "CUTOUT_QUOTA_STORAGE_CA"):
        assert name.removeprefix("CUTOUT_").lower() in Settings.model_fields
    assert Settings().quota_storage_uri == "memory://"  # local default; GCP sets Redis
