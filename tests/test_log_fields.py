"""The log contract behind infra/monitoring.tf: every record a metric must count is emitted
by real code, matches that metric's filter, and carries every field the filter and the
extractors name, with the right type.

The records come from real code paths (ingest's service, a worker running one batch on
the local backend with a deterministic segmenter, ingest's error response), formatted by
:class:`cutout.logs.JsonFormatter` exactly as Cloud Run receives them. Emitters whose log
call does not carry its fields yet are ``xfail(strict=True)``: the gap stays visible, and
the mark must go when the fields arrive.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from cutout.backends import open_backends
from cutout.codes import ErrorCode
from cutout.errors import TransientError
from cutout.job import ClientInfo, OutputSpec, Priority
from cutout.logs import JsonFormatter
from cutout.samples import jpeg_bytes, photo_like
from cutout.settings import Settings
from ingest.app import IngestApp
from ingest.service import IngestService, Submission
from tests.support import log_filters
from tests.support.infra import terraform
from tests.support.segmenters import EllipseSegmenter, FailingSegmenter
from worker.loop import Worker
from worker.segmenters import base

NUMBER = "number"  # int or float, not bool
#: The type of every field a metric or the contract names.
FIELD_TYPES: dict[str, type | str] = {
    "event": str,
    "job_id": str,
    "priority": str,
    "state": str,
    "code": str,
    "cached": bool,
    "key_id": str,
    "cold_start": bool,
    "worker_id": str,
    "effect": str,
    "latency_s": NUMBER,
    "queue_wait_s": NUMBER,
    "alive_s": NUMBER,
    "busy_s": NUMBER,
    "jobs_served": int,
    "end_reason": str,
}
#: Values a field may take, where they are a closed set.
FIELD_VALUES: dict[str, set[str]] = {
    "priority": {p.value for p in Priority},
    "state": {"done", "failed"},
    "code": {c.value for c in ErrorCode},
}
RESOURCES = {
    "worker": {"type": "cloud_run_job", "labels": {"job_name": "cutout-worker"}},
    "ingest": {"type": "cloud_run_revision", "labels": {"service_name": "cutout-ingest"}},
}


@dataclass(frozen=True)
class Emitter:
    """One log call, the metrics that must count its records, and the fields (beyond
    those the metrics name) the report and planner rely on."""

    where: str
    logger: str
    message: str
    service: str
    metrics: tuple[str, ...]
    fields: tuple[str, ...] = ()
    missing: str = ""  # why it is expected to fail today
    values: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return "-".join(dict.fromkeys(self.values.values()))


FINISHED = ("event", "job_id", "state", "priority", "cold_start", "worker_id")
EMITTERS = [
    Emitter(
        "ingest/service.py IngestService.submit: 'job %s accepted'",
        "ingest.service",
        r"job \w+ accepted",
        "ingest",
        ("jobs_accepted",),
        fields=("event", "job_id", "priority", "cached", "key_id"),
        values={"event": "job_accepted"},
    ),
    Emitter(
        "worker/batch.py BatchRunner._render: 'job %s: done'",
        "worker.batch",
        r"job \w+: done",
        "worker",
        ("job_latency", "queue_wait", "jobs_finished"),
        fields=(*FINISHED, "latency_s", "queue_wait_s"),
        values={"event": "job_finished", "state": "done"},
    ),
    Emitter(
        "worker/outcomes.py Outcomes.fail: 'job %s: failed: %s: %s'",
        "worker.outcomes",
        r"job \w+: failed: .*",
        "worker",
        ("jobs_finished", "errors"),
        fields=(*FINISHED, "code", "latency_s"),
        values={"event": "job_finished", "state": "failed"},
    ),
    Emitter(
        "worker/dead_letters.py _apply: 'job %s: failed: dead_lettered: %s'",
        "worker.dead_letters",
        r"job \w+: failed: dead_lettered: .*",
        "worker",
        ("jobs_finished", "errors"),
        fields=(*FINISHED, "code"),
        values={"event": "job_finished", "state": "failed", "code": "dead_lettered"},
    ),
    Emitter(
        "worker/render.py Renderer._store: 'job %s: %s ready'",
        "worker.render",
        r"job \w+: \w+ ready",
        "worker",
        ("result_latency",),
        fields=("event", "job_id", "effect", "priority", "latency_s"),
        values={"event": "result_ready"},
    ),
    Emitter(
        "worker/loop.py Worker.work: 'worker %s started'",
        "worker.loop",
        r"worker \S+ started",
        "worker",
        ("worker_starts",),
        fields=("event", "worker_id"),
        values={"event": "worker_started"},
    ),
    Emitter(
        "worker/loop.py Worker.work: 'worker %s exiting after %d jobs'",
        "worker.loop",
        r"worker \S+ exiting after \d+ jobs",
        "worker",
        ("worker_seconds", "worker_busy_seconds"),
        fields=("event", "worker_id", "alive_s", "busy_s", "jobs_served", "end_reason"),
        values={"event": "worker_exited"},
    ),
    Emitter(
        "ingest/app.py IngestApp._error: 'request failed: %s' (5xx only)",
        "ingest.app",
        r"request failed: .*",
        "ingest",
        ("errors",),
        fields=("event", "code"),
        values={"event": "request_failed"},
    ),
]


def _case(emitter: Emitter) -> Any:
    marks = [pytest.mark.xfail(strict=True, raises=AssertionError, reason=emitter.missing)]
    return pytest.param(emitter, id=emitter.id, marks=marks if emitter.missing else [])


# ---- the metrics, as Terraform declares them ------------------------------------------


@dataclass(frozen=True)
class Metric:
    name: str
    filter: log_filters.Filter
    value_field: str | None
    label_fields: dict[str, str]  # label → field

    def extracted_fields(self) -> set[str]:
        """The fields its value and labels come from (which of the filter's fields a
        record needs depends on the branch it matches: checked on real records below)."""
        named = set(self.label_fields.values())
        return named | ({self.value_field} if self.value_field else set())


def _metrics() -> dict[str, Metric]:
    tf = terraform()
    return {
        name: Metric(
            name=name,
            filter=log_filters.parse(log_filters.expand(tf, entry["filter"])),
            value_field=entry["value"],
            label_fields=entry["labels"],
        )
        for name, entry in tf.locals["log_metrics"].items()
    }


METRICS = _metrics()


def test_every_metric_is_fed_by_an_emitter_that_promises_its_fields() -> None:
    for name, metric in METRICS.items():
        feeding = [e for e in EMITTERS if name in e.metrics]
        assert feeding, f"no log call feeds metric {name}"
        for emitter in feeding:
            missing = metric.extracted_fields() - set(emitter.fields)
            assert not missing, f"{emitter.where} feeds {name} but does not promise {missing}"
    for emitter in EMITTERS:
        assert set(emitter.metrics) <= set(METRICS), f"{emitter.where}: unknown metric"
        assert set(emitter.fields) <= set(FIELD_TYPES), f"{emitter.where}: untyped field"
    for metric in METRICS.values():
        assert metric.filter.payload_fields() <= set(FIELD_TYPES), f"{metric.name}: untyped"


SAMPLES: dict[type | str, Any] = {str: "standard", bool: True, int: 3, NUMBER: 1.5}


@pytest.mark.parametrize("emitter", EMITTERS, ids=[e.id for e in EMITTERS])
def test_a_record_that_keeps_the_contract_is_counted_by_its_metrics(emitter: Emitter) -> None:
    """The contract can be kept: a record with exactly the promised fields matches."""
    payload = {name: SAMPLES[FIELD_TYPES[name]] for name in emitter.fields}
    payload.update(emitter.values)
    entry = {"resource": RESOURCES[emitter.service], "jsonPayload": payload}
    for metric in emitter.metrics:
        assert METRICS[metric].filter.matches(entry), f"{metric} would not count {payload}"
    other = {"resource": RESOURCES["worker" if emitter.service == "ingest" else "ingest"]}
    assert not any(
        METRICS[m].filter.matches({**other, "jsonPayload": payload}) for m in emitter.metrics
    ), "a metric counts records of the wrong service"


def test_distribution_metrics_extract_numbers() -> None:
    for name, metric in METRICS.items():
        if metric.value_field is not None:
            assert FIELD_TYPES[metric.value_field] == NUMBER, f"{name} extracts a non-number"


# ---- the records the code emits -------------------------------------------------------


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.formatter_ = JsonFormatter()
        self.records: list[tuple[str, dict[str, Any]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.name, json.loads(self.formatter_.format(record))))


def _settings(data_dir: Path, **overrides: Any) -> Settings:
    quick = {
        "segmenter": "test-ellipse",
        "poll_s": 0.2,
        "batch_wait_ms": 50,
        "idle_exit_s": 0.5,
        "retry_base_s": 0.0,
        "lease_s": 10,
        "autoscale": False,
    }
    base_settings = Settings(data_dir=data_dir, url_secret="test-secret")
    return base_settings.with_overrides(**{**quick, **overrides})


def _submit(settings: Settings, photo: bytes) -> str:
    backends = open_backends(settings)
    sub = Submission(
        effects=[("color", {})],
        output=OutputSpec(),
        priority=Priority.STANDARD,
        client=ClientInfo(),
        data=photo,
    )
    return IngestService(settings, backends).submit(sub).job.id


def _run_scenarios(tmp: Path) -> None:
    photo = jpeg_bytes(photo_like(64, 48))
    done = _settings(tmp / "done")
    _submit(done, photo)
    Worker(settings=done, backends=open_backends(done), max_batches=1).work()

    corrupt = _settings(tmp / "corrupt")
    backends = open_backends(corrupt)
    job = backends.status.get(_submit(corrupt, photo))
    backends.blobs.put(job.input.key, b"\xff\xd8garbage", content_type="image/jpeg")
    Worker(settings=corrupt, backends=backends, max_batches=1).work()

    dead = _settings(tmp / "dead", segmenter="test-failing", max_attempts=1, idle_exit_s=1.0)
    _submit(dead, photo)
    Worker(settings=dead, backends=open_backends(dead)).work()  # until idle

    app = IngestApp(done, open_backends(done))
    request = Request(EnvironBuilder(path="/v1/jobs", method="POST").get_environ())
    app._error(request, None, TransientError("the status store is unreachable"))


@pytest.fixture(scope="module")
def emitted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[tuple[str, dict]]]:
    capture = _Capture()
    root = logging.getLogger()
    level = root.level
    root.addHandler(capture)
    root.setLevel(logging.INFO)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setitem(base.SEGMENTERS, "test-ellipse", EllipseSegmenter)
            mp.setitem(base.SEGMENTERS, "test-failing", FailingSegmenter)
            _run_scenarios(tmp_path_factory.mktemp("log-fields"))
        yield capture.records
    finally:
        root.removeHandler(capture)
        root.setLevel(level)


def _records(emitted: list[tuple[str, dict]], emitter: Emitter) -> list[dict[str, Any]]:
    return [
        payload
        for logger, payload in emitted
        if logger == emitter.logger and re.fullmatch(emitter.message, payload["message"])
    ]


@pytest.mark.parametrize("emitter", EMITTERS, ids=[e.id for e in EMITTERS])
def test_every_emitter_is_exercised(emitted: list[tuple[str, dict]], emitter: Emitter) -> None:
    assert _records(emitted, emitter), f"the scenarios never reached {emitter.where}"


def _type_ok(value: Any, expected: type | str) -> bool:
    if expected == NUMBER:
        return isinstance(value, int | float) and not isinstance(value, bool)
    assert isinstance(expected, type)
    return isinstance(value, expected) and (expected is bool or not isinstance(value, bool))


@pytest.mark.parametrize("emitter", [_case(e) for e in EMITTERS])
def test_every_record_carries_its_fields_and_is_counted_by_its_metrics(
    emitted: list[tuple[str, dict]], emitter: Emitter
) -> None:
    records = _records(emitted, emitter)
    assert records, f"the scenarios never reached {emitter.where}"  # a broken scenario
    for payload in records:
        absent = [f for f in emitter.fields if f not in payload]
        assert not absent, f"{emitter.where} lacks {absent}: {payload}"
        for name in emitter.fields:
            expected = FIELD_TYPES[name]
            assert _type_ok(payload[name], expected), f"{name}={payload[name]!r} is not {expected}"
            if name in FIELD_VALUES:
                assert payload[name] in FIELD_VALUES[name], f"{name}={payload[name]!r}"
        for name, value in emitter.values.items():
            assert payload[name] == value, f"{emitter.where}: {name} must be {value!r}"
        entry = {"resource": RESOURCES[emitter.service], "jsonPayload": payload}
        for metric in emitter.metrics:
            assert METRICS[metric].filter.matches(entry), f"metric {metric} would not count it"
