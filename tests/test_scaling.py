"""Scaling from zero: the pure arithmetic, and ingest with the real local launcher (its
scale-up lease in SQLite). Only process spawning is replaced by a recorder here; the
subprocess path is covered by test_e2e_local.py and test_local_launcher.py."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from urllib3 import encode_multipart_formdata
from werkzeug.test import Client
from werkzeug.wrappers import Request

from cutout.backends import Backends, open_backends
from cutout.job import utcnow
from cutout.policy import Retry
from cutout.ports.launcher import StartRecord, WorkerBeat, WorkerFailure
from cutout.samples import jpeg_bytes, photo_like
from cutout.scaling import ScalePolicy, Scaler, workers_to_start
from cutout.settings import Settings
from ingest.app import IngestApp

NOW = utcnow()


def beat(name: str, started_s_ago: float) -> WorkerBeat:
    return WorkerBeat(worker_id=name, at=NOW, started_at=NOW - timedelta(seconds=started_s_ago))


def record(s_ago: float, count: int) -> StartRecord:
    return StartRecord(at=NOW - timedelta(seconds=s_ago), count=count)


@pytest.mark.parametrize(
    ("backlog", "warm", "want"),
    [(0, False, 0), (0, True, 1), (1, False, 1), (16, False, 1), (17, False, 2), (500, False, 4)],
)
def test_desired_workers_follow_the_backlog_in_capacity_steps(
    backlog: int, warm: bool, want: int
) -> None:
    policy = ScalePolicy(jobs_per_worker=16, max_workers=4, start_window_s=60)
    assert policy.desired(backlog, warm=warm) == want


def test_requested_workers_count_until_they_arrive() -> None:
    assert workers_to_start(2, [], []) == 2
    assert workers_to_start(2, [], [record(5, 1)]) == 1  # one on its way
    assert workers_to_start(2, [beat("a", 2)], [record(5, 1)]) == 1  # it arrived: not twice
    assert workers_to_start(2, [beat("old", 600)], [record(5, 1)]) == 0  # old one + coming
    assert workers_to_start(1, [beat("a", 2), beat("b", 1)], [record(5, 2)]) == 0


def test_a_start_fulfilled_by_a_worker_that_already_left_is_not_on_its_way() -> None:
    """The worker started for the record came, served and exited: a new job needs a new
    worker now, not after the start window."""
    gone_worker_started = NOW - timedelta(seconds=3)
    assert workers_to_start(1, [], [record(5, 1)]) == 0  # still on its way
    assert workers_to_start(1, [], [record(5, 1)], [gone_worker_started]) == 1
    assert workers_to_start(1, [], [record(5, 1)], [NOW - timedelta(seconds=9)]) == 0  # older


def test_a_job_after_the_warm_worker_left_starts_another(settings: Settings) -> None:
    backends = open_backends(settings)
    recorder = RecordingLauncher(backends)
    scaler = Scaler(backends, ScalePolicy.from_settings(settings))
    assert scaler.ensure(warm=True).started == 1
    backends.launcher.beat(WorkerBeat(worker_id="w1", at=utcnow(), started_at=utcnow()))
    backends.launcher.goodbye("w1")  # idle exit, inside the start window
    assert scaler.ensure(warm=True).started == 1
    assert recorder.starts == [1, 1]


class RecordingLauncher:
    """Wraps the real local launcher; only ``start`` records instead of spawning."""

    def __init__(self, backends: Backends) -> None:
        self.starts: list[int] = []
        self._lock = threading.Lock()
        real = backends.launcher

        def start(count: int) -> None:
            with self._lock:
                self.starts.append(count)

        real.start = start  # type: ignore[method-assign]


@pytest.fixture
def scaled_app(settings: Settings) -> tuple[IngestApp, RecordingLauncher]:
    settings = settings.with_overrides(jobs_per_worker=16, max_workers=4)
    backends = open_backends(settings)
    return IngestApp(settings, backends), RecordingLauncher(backends)


def wsgi_client(app: IngestApp) -> Client:
    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return app.dispatch(Request(environ))(environ, start_response)

    return Client(wsgi)


def test_fifty_jobs_at_once_start_workers_once_per_capacity_step(
    scaled_app: tuple[IngestApp, RecordingLauncher],
) -> None:
    app, recorder = scaled_app
    photos = [jpeg_bytes(photo_like(48, 32, seed=i)) for i in range(50)]

    def upload(photo: bytes) -> int:
        body, content_type = encode_multipart_formdata({"file": ("p.jpg", photo, "image/jpeg")})
        response = wsgi_client(app).post(
            "/v1/jobs", data=body, headers={"Content-Type": content_type}
        )
        return response.status_code

    threads = [threading.Thread(target=upload, args=(p,)) for p in photos]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert (
        app.service.backends.queue.depth()
        and sum(app.service.backends.queue.depth().values()) == 50
    )
    assert sum(recorder.starts) == 4  # ceil(50 / 16)
    assert len(recorder.starts) <= 4, recorder.starts  # once per step, not 50 times


def test_warm_starts_one_worker_before_any_upload_and_then_is_a_no_op(
    scaled_app: tuple[IngestApp, RecordingLauncher],
) -> None:
    app, recorder = scaled_app
    client = wsgi_client(app)
    first = client.post("/v1/warm").get_json()
    assert first == {
        "autoscale": True,
        "backlog": 0,
        "alive": 0,
        "wanted": 1,
        "started": 1,
        "already_warm": False,
    }
    on_its_way = client.post("/v1/warm").get_json()
    assert (on_its_way["started"], on_its_way["already_warm"]) == (0, True)
    launcher = app.service.backends.launcher
    launcher.beat(WorkerBeat(worker_id="w", at=utcnow(), started_at=utcnow()))
    alive = client.post("/v1/warm").get_json()
    assert (alive["started"], alive["alive"], alive["already_warm"]) == (0, 1, True)
    assert recorder.starts == [1]


def test_scale_route_without_a_configured_caller_needs_no_token(
    scaled_app: tuple[IngestApp, RecordingLauncher],
) -> None:
    app, recorder = scaled_app
    assert wsgi_client(app).post("/v1/scale").get_json()["started"] == 0
    assert recorder.starts == []


def test_scale_route_checks_the_scheduler_token_when_configured(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings.with_overrides(scale_caller="scheduler@p.iam.gserviceaccount.com")
    app = IngestApp(settings, open_backends(settings))
    RecordingLauncher(app.service.backends)
    client = wsgi_client(app)
    assert client.post("/v1/scale").get_json()["error"]["code"] == "missing_token"

    def fake_verify(token: str, audience: str) -> dict[str, object]:
        assert audience == settings.public_url
        return {"email": token, "email_verified": True}

    monkeypatch.setattr("ingest.auth.verify_google_token", fake_verify)
    wrong = client.post("/v1/scale", headers={"Authorization": "Bearer someone@else"})
    assert (wrong.status_code, wrong.get_json()["error"]["code"]) == (403, "forbidden_caller")
    right = client.post("/v1/scale", headers={"Authorization": f"Bearer {settings.scale_caller}"})
    assert right.status_code == 200


def test_a_broken_launcher_never_fails_the_upload(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = IngestApp(settings, open_backends(settings))

    def broken(count: int) -> None:
        raise OSError("cannot fork")

    monkeypatch.setattr(app.service.backends.launcher, "start", broken)
    body, content_type = encode_multipart_formdata(
        {"file": ("p.jpg", io.BytesIO(jpeg_bytes(photo_like(40, 30))).read(), "image/jpeg")}
    )
    response = wsgi_client(app).post("/v1/jobs", data=body, headers={"Content-Type": content_type})
    assert response.status_code == 202


def test_a_failed_scale_answers_503_so_the_scheduler_sees_it(
    scaled_app: tuple[IngestApp, RecordingLauncher], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, recorder = scaled_app
    client = wsgi_client(app)

    def unavailable() -> dict[str, int]:
        raise OSError("queue unavailable")

    monkeypatch.setattr(app.service.backends.queue, "depth", unavailable)
    photo = (io.BytesIO(jpeg_bytes(photo_like(40, 30))), "p.jpg")
    assert (
        client.post("/v1/jobs", data={"file": photo}).status_code == 202
    )  # scaling never fails it
    response = client.post("/v1/scale")
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["code"] == "scale_failed"
    assert "queue unavailable" in error["message"]
    assert client.post("/v1/warm").get_json() == {"autoscale": False}  # a hint: only logged
    assert recorder.starts == []


def failure(s_ago: float) -> WorkerFailure:
    return WorkerFailure(worker_id=f"w{s_ago}", at=NOW - timedelta(seconds=s_ago), reason="x")


def test_worker_failures_hold_starts_back_ever_longer() -> None:
    policy = ScalePolicy(16, 4, 60, failure_backoff=Retry(base_s=30, cap_s=900))
    assert policy.backoff_left([], NOW) == 0
    assert policy.backoff_left([failure(10)], NOW) == pytest.approx(20)  # 30 s after it
    assert policy.backoff_left([failure(40)], NOW) == 0
    # the third failure in the window: 120 s after the latest one
    assert policy.backoff_left([failure(100), failure(50), failure(40)], NOW) == pytest.approx(80)


def test_the_scaler_starts_no_worker_while_a_fatal_failure_is_fresh(settings: Settings) -> None:
    """A worker that stopped on a fatal error (it said why in its goodbye) makes the
    scaler back off instead of relaunching workers that would fail the same way."""
    settings = settings.with_overrides(failure_backoff_s=600, failure_backoff_cap_s=900)
    backends = open_backends(settings)
    recorder = RecordingLauncher(backends)
    backends.launcher.goodbye("w1", failure="permission_denied: reading uploads/x: 403")
    scaler = Scaler(backends, ScalePolicy.from_settings(settings))

    held = scaler.ensure(warm=True)
    assert (held.wanted, held.started) == (1, 0)
    assert 590 < held.held_back_s <= 600
    assert recorder.starts == []

    patient = settings.with_overrides(failure_backoff_s=0)  # the backoff is over
    assert Scaler(backends, ScalePolicy.from_settings(patient)).ensure(warm=True).started == 1
    assert recorder.starts == [1]
