"""The lasting record of one worker's life, kept (by the launcher) for as long as jobs are.

A heartbeat says whether a worker is alive now; a :class:`WorkerLife` says what the worker
cost and what it did, after it is gone: the report reads it for workers started, the
share that served nothing, busy share and GPU-seconds (:mod:`cutout.metrics`), and the
planner builds the same records from its simulated workers.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class WorkerLife(BaseModel):
    """One worker, from its process start to its exit.

    - ``requested``: when the launcher asked for this worker (``None`` if unknown, e.g. a
      worker started by hand): ``started - requested`` is the launch time.
    - ``started``: the process started (billing runs from here on Cloud Run).
    - ``ready``: the model was loaded and the worker could serve; ``None`` if it never was.
    - ``first_job``: it claimed its first job; ``None`` if it served nothing.
    - ``ended``: it exited; ``None`` while alive, or if it vanished without saying so.
    - ``busy_seconds``: seconds with at least one batch in flight.
    - ``jobs_served``: jobs it finished (done or failed).
    - ``end_reason``: why it exited, e.g. ``idle``, ``stopped``, ``max_batches``,
      ``crashed``; ``None`` while alive or when unknown.
    """

    model_config = ConfigDict(extra="forbid")

    worker_id: str
    requested: datetime | None = None
    started: datetime
    ready: datetime | None = None
    first_job: datetime | None = None
    ended: datetime | None = None
    busy_seconds: float = Field(0.0, ge=0)
    jobs_served: int = Field(0, ge=0)
    end_reason: str | None = None
