"""translated(): Google client errors become cutout errors with context; and the case
that motivated the ValueError rule, a transaction held by a crashed process, on the
Firestore emulator."""

from __future__ import annotations

import pytest
from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exc
from google.cloud import firestore

from cutout.errors import (
    ConfigurationError,
    CutoutError,
    NotFound,
    PermissionDenied,
    TransientError,
)
from cutout.gcp import open_gcp_backends
from cutout.gcp.errors import translated
from cutout.job import EffectRequest, InputInfo, Job, JobState
from cutout.settings import Settings


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (gexc.NotFound("no such object"), NotFound),
        (gexc.ServiceUnavailable("down"), TransientError),
        (gexc.TooManyRequests("slow down"), TransientError),
        (gexc.Aborted("Transaction lock timeout."), TransientError),
        (gexc.Forbidden("no permission"), PermissionDenied),
        (gexc.Unauthorized("who are you"), PermissionDenied),
        (auth_exc.DefaultCredentialsError("no credentials"), ConfigurationError),
    ],
)
def test_google_errors_become_cutout_errors_naming_the_action(
    raised: Exception, expected: type[CutoutError]
) -> None:
    with (
        pytest.raises(expected, match=r"^reading gs://b/k") as caught,
        translated("reading gs://b/k"),
    ):
        raise raised
    assert caught.value.__cause__ is raised


def test_a_transaction_that_ran_out_of_attempts_is_transient() -> None:
    with pytest.raises(TransientError, match="lock timeout"), translated("moving job j"):
        try:
            raise gexc.Aborted("Transaction lock timeout.")
        except gexc.Aborted as exc:
            raise ValueError("Failed to commit transaction in 5 attempts.") from exc


def test_other_errors_pass_through_unchanged() -> None:
    with pytest.raises(ValueError, match="a bug"), translated("anything"):
        raise ValueError("a bug")
    with pytest.raises(KeyError), translated("anything"):
        raise KeyError("k")


@pytest.mark.emulator
@pytest.mark.slow
def test_a_document_locked_by_a_dead_transaction_is_a_transient_error(
    gcp_settings: Settings,
) -> None:
    """The emulator locks pessimistically: a transaction begun by a process that then
    died holds its documents until it expires (~60 s). Writers must get a retryable
    error, not a crash."""
    status = open_gcp_backends(gcp_settings).status
    job = Job(
        id="locked",
        input=InputInfo(key="uploads/x", sha256="0" * 64, width=1, height=1, format="png", bytes=1),
        effects=[EffectRequest(name="color")],
    )
    status.create(job)
    dead = firestore.Client(project=gcp_settings.gcp_project)
    abandoned = dead.transaction()
    abandoned._begin()  # what a killed worker leaves behind: begun, read, never ended
    dead.collection(gcp_settings.jobs_collection).document("locked").get(transaction=abandoned)
    try:
        with pytest.raises(TransientError, match="moving job locked"):
            status.transition("locked", [JobState.QUEUED], JobState.RUNNING)
    finally:
        abandoned._rollback()
    moved = status.transition("locked", [JobState.QUEUED], JobState.RUNNING)
    assert moved.state is JobState.RUNNING
