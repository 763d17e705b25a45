"""The discrete-event simulation (simpy) of cutout's own design: ingest scales workers
with :class:`cutout.scaling.ScalePolicy` and :func:`cutout.scaling.workers_to_start` after
every job and warm call and on the periodic backlog check; each worker runs the loop of
:mod:`worker.loop` with the very rules it uses (:func:`worker.rules.fill_wait`,
:func:`worker.rules.should_exit_idle`) and pulls in :class:`cutout.tier_order.TierOrder`'s
order.

What is modelled: a started worker becomes alive (counted by the scaler) after its
launch time and ready (model loaded) a load time later. Up to ``depth`` batches are in
flight, each as :mod:`worker.batch` runs it: its photos fetched and decoded together
(``prepare_s``), then the model (batches pulled before it is ready wait for it), then the
device, one batch at a time, for ``service(batch size)`` seconds, then each job rendered
in turn (``render_s``) and finished, while the next batch may use the device. Jobs are
claimed when pulled. What is not: failures and retries, the heartbeat's lag (alive means
started and not exited), and the CPU contention between two batches' CPU stages.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import simpy

from cutout.job import Priority
from cutout.ports.launcher import StartRecord, WorkerBeat
from cutout.scaling import ScalePolicy, workers_to_start
from cutout.tier_order import TierOrder
from worker import rules
from worker.plan.records import T0, SimJob, SimRun, SimWorker
from worker.plan.traffic import JOB, WARM, Arrival


@dataclass(frozen=True)
class Startup:
    """Seconds from a start request to the process running (``launch_s``) and from then to
    the model being ready (``ready_s``): each start draws one of each, uniformly from the
    given samples (one sample: a fixed time)."""

    launch_s: tuple[float, ...]
    ready_s: tuple[float, ...]

    def draw(self, rng: np.random.Generator) -> tuple[float, float]:
        return float(rng.choice(self.launch_s)), float(rng.choice(self.ready_s))


@dataclass(frozen=True)
class Fleet:
    """The workers and the settings that steer them (cutout's defaults unless given)."""

    startup: Startup
    service_base_s: float
    service_per_image_s: float
    prepare_s: float = 0.0
    render_s: float = 0.0
    idle_exit_s: float = 60.0
    max_workers: int = 4
    batch_size: int = 4
    batch_wait_s: float = 0.2
    jobs_per_worker: int = 16
    start_window_s: float = 120.0
    poll_s: float = 1.0
    scale_every_s: float = 60.0
    depth: int = 2
    guard_every: int = 8

    def service_s(self, batch: int) -> float:
        return self.service_base_s + self.service_per_image_s * batch

    @property
    def policy(self) -> ScalePolicy:
        return ScalePolicy(self.jobs_per_worker, self.max_workers, self.start_window_s)


@dataclass
class _Worker:
    record: SimWorker
    ready_at: float
    device: simpy.Resource
    in_flight: int = 0
    idle_since: float = 0.0
    busy_from: float = 0.0
    batches: int = 0


@dataclass
class Simulation:
    fleet: Fleet
    arrivals: Sequence[Arrival]
    seed: int
    env: simpy.Environment = field(default_factory=simpy.Environment)
    _queues: dict[Priority, deque[SimJob]] = field(init=False)
    _jobs: list[SimJob] = field(default_factory=list, init=False)
    _workers: list[SimWorker] = field(default_factory=list, init=False)
    _alive: list[_Worker] = field(default_factory=list, init=False)
    _starts: list[StartRecord] = field(default_factory=list, init=False)
    _arrived: simpy.Event = field(init=False)
    _order: TierOrder = field(init=False)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self._queues = {tier: deque() for tier in Priority}
        self._arrived = self.env.event()
        self._order = TierOrder(self.fleet.guard_every)

    def run(self) -> SimRun:
        """Every arrival, then until every job is done and every worker has exited (or
        an hour past the last arrival, for workers that never exit idle)."""
        horizon = max((a.at for a in self.arrivals), default=0.0)
        self.env.process(self._traffic())
        self.env.process(self._backlog_checks(horizon))
        self.env.run(until=horizon + 3600 + self.fleet.idle_exit_s)
        requests = sum(a.kind != JOB for a in self.arrivals)
        return SimRun(self._jobs, self._workers, end_s=self.env.now, other_requests=requests)

    # -- ingest --------------------------------------------------------------------------

    def _traffic(self) -> Generator[Any, Any, None]:
        for arrival in self.arrivals:
            yield self.env.timeout(max(0.0, arrival.at - self.env.now))
            if arrival.kind == JOB:
                job = SimJob(id=f"j{len(self._jobs)}", tier=arrival.tier, submitted=self.env.now)
                self._jobs.append(job)
                self._queues[arrival.tier].append(job)
                self._arrived.succeed()
                self._arrived = self.env.event()
                self._scale(warm=False)
            elif arrival.kind == WARM:
                self._scale(warm=True)

    def _backlog_checks(self, horizon: float) -> Generator[Any, Any, None]:
        while self.env.now <= horizon:
            yield self.env.timeout(self.fleet.scale_every_s)
            self._scale(warm=False)

    def _scale(self, *, warm: bool) -> None:
        """What :meth:`cutout.scaling.Scaler.ensure` decides, on the simulated state."""
        now = T0 + timedelta(seconds=self.env.now)
        alive = [
            WorkerBeat(w.record.id, at=now, started_at=T0 + timedelta(seconds=w.record.started))
            for w in self._alive
        ]
        backlog = sum(j.finished is None for j in self._jobs)
        want = self.fleet.policy.desired(backlog, warm=warm)
        if want <= len(alive):
            return
        window = now - timedelta(seconds=self.fleet.start_window_s)
        self._starts = [r for r in self._starts if r.at >= window]
        arrivals = [
            started
            for w in self._workers
            if (started := T0 + timedelta(seconds=w.started)) >= window
        ]
        count = workers_to_start(want, alive, self._starts, arrivals)
        if count > 0:
            self._starts.append(StartRecord(at=now, count=count))
            for _ in range(count):
                self.env.process(self._worker())

    # -- a worker ------------------------------------------------------------------------

    def _worker(self) -> Generator[Any, Any, None]:
        f, env = self.fleet, self.env
        launch_s, ready_s = f.startup.draw(self.rng)
        yield env.timeout(launch_s)
        record = SimWorker(id=f"w{len(self._workers)}", started=env.now, ready=env.now + ready_s)
        self._workers.append(record)
        worker = _Worker(record, record.ready, simpy.Resource(env, 1), idle_since=env.now)
        self._alive.append(worker)
        while True:
            if worker.in_flight >= f.depth:
                yield env.timeout(f.poll_s)  # every batch slot still busy
                continue
            batch = yield from self._pull(worker)
            if not batch:
                idle_since = worker.idle_since
                if rules.should_exit_idle(worker.in_flight, idle_since, env.now, f.idle_exit_s):
                    break
                continue
            self._claim(worker, batch)
            env.process(self._batch(worker, batch))
        self._alive.remove(worker)
        record.ended, record.end_reason = env.now, "idle"

    def _pull(self, worker: _Worker) -> Generator[Any, Any, list[SimJob]]:
        """``queue.pull(batch_size, wait_s=poll_s)``, then topped up by the fill rule."""
        f, env = self.fleet, self.env
        batch = yield from self._take(f.batch_size, wait_s=f.poll_s)
        first_at = env.now
        while (
            wait := rules.fill_wait(
                len(batch),
                f.batch_size,
                first_at=first_at,
                now=env.now,
                batch_wait_s=f.batch_wait_s,
                stopping=False,
                would_wait=worker.in_flight > 0 or env.now < worker.ready_at,
            )
        ) is not None:
            batch += yield from self._take(f.batch_size - len(batch), wait_s=wait)
        return batch

    def _take(self, count: int, *, wait_s: float) -> Generator[Any, Any, list[SimJob]]:
        """Up to ``count`` queued jobs in the tier order, waiting up to ``wait_s`` for one."""
        if not any(self._queues.values()):
            yield self._arrived | self.env.timeout(wait_s)
        taken: list[SimJob] = []
        for step in self._order.plan():
            queue = self._queues[step.tier]
            room = count - len(taken)
            limit = room if step.limit is None else min(step.limit, room)
            while queue and limit > 0:
                taken.append(queue.popleft())
                limit -= 1
        self._order.record(j.tier for j in taken)
        return taken

    def _claim(self, worker: _Worker, batch: list[SimJob]) -> None:
        for job in batch:
            job.started, job.worker, job.cold = self.env.now, worker.record.id, worker.batches == 0
        if worker.in_flight == 0:
            worker.busy_from = self.env.now
        worker.in_flight += 1
        worker.batches += 1
        worker.record.first_job = worker.record.first_job or self.env.now

    def _batch(self, worker: _Worker, batch: list[SimJob]) -> Generator[Any, Any, None]:
        env, f = self.env, self.fleet
        yield env.timeout(f.prepare_s)
        if env.now < worker.ready_at:
            yield env.timeout(worker.ready_at - env.now)  # the model is still loading
        with worker.device.request() as turn:
            yield turn
            yield env.timeout(f.service_s(len(batch)))
        for job in batch:
            yield env.timeout(f.render_s)
            job.finished = env.now
        worker.record.jobs_served += len(batch)
        worker.in_flight -= 1
        worker.idle_since = env.now
        if worker.in_flight == 0:
            worker.record.busy_seconds += env.now - worker.busy_from
