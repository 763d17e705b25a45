"""Arrivals for the planner: Poisson per tier with a daily profile and bursts, intent
warms ahead of a share of the uploads, or a CSV trace replayed as it is.

All generation draws from one :class:`numpy.random.Generator`, so a seed fixes the trace.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cutout.errors import InvalidInput
from cutout.job import Priority

JOB, WARM, REQUEST = "job", "warm", "request"
KINDS = (JOB, WARM, REQUEST)


@dataclass(frozen=True, order=True)
class Arrival:
    """At ``at`` seconds: a job of ``tier`` (a photo to process), a warm call (the page's
    intent signal: start a worker, no photo), or a request that needs no worker
    (an upload URL, a status poll): counted for cost per request only."""

    at: float
    kind: str = JOB
    tier: Priority = Priority.STANDARD


@dataclass(frozen=True)
class Burst:
    """Rates times ``factor`` for ``minutes`` from ``start_h`` hours in."""

    start_h: float
    minutes: float
    factor: float


@dataclass(frozen=True)
class Traffic:
    """``jobs_per_hour`` per tier, scaled by ``daily_profile`` (24 hourly multipliers,
    hour 0 first; none: flat) and by any burst in progress; ``warm_share`` of the jobs are
    preceded by a warm ``warm_lead_s`` earlier; ``warms_per_hour`` and
    ``requests_per_hour`` add independent warm calls and worker-less requests."""

    jobs_per_hour: dict[Priority, float]
    hours: float
    daily_profile: tuple[float, ...] | None = None
    bursts: tuple[Burst, ...] = ()
    warm_share: float = 0.0
    warm_lead_s: float = 20.0
    warms_per_hour: float = 0.0
    requests_per_hour: float = 0.0

    def factor(self, at_s: float) -> float:
        hour = at_s / 3600
        value = self.daily_profile[int(hour) % 24] if self.daily_profile else 1.0
        for burst in self.bursts:
            if burst.start_h <= hour < burst.start_h + burst.minutes / 60:
                value *= burst.factor
        return value

    def arrivals(self, rng: np.random.Generator) -> list[Arrival]:
        """One draw of the trace, sorted by time."""
        peak = max(self.daily_profile or (1.0,)) * max([b.factor for b in self.bursts] + [1.0])
        out: list[Arrival] = []
        for tier, rate in self.jobs_per_hour.items():
            for at in self._poisson(rng, rate, peak):
                out.append(Arrival(at, JOB, tier))
                if rng.random() < self.warm_share:
                    out.append(Arrival(max(0.0, at - self.warm_lead_s), WARM, tier))
        out += [Arrival(at, WARM) for at in self._poisson(rng, self.warms_per_hour, peak)]
        out += [Arrival(at, REQUEST) for at in self._poisson(rng, self.requests_per_hour, peak)]
        return sorted(out)

    def _poisson(self, rng: np.random.Generator, per_hour: float, peak: float) -> list[float]:
        """A non-homogeneous Poisson process by thinning at the peak rate."""
        if per_hour <= 0:
            return []
        horizon = self.hours * 3600
        count = rng.poisson(per_hour * peak * self.hours)
        times = np.sort(rng.uniform(0, horizon, count))
        keep = rng.uniform(0, peak, count) < np.array([self.factor(t) for t in times])
        return [float(t) for t in times[keep]]


def read_trace(path: Path) -> list[Arrival]:
    """A CSV with a header and columns ``at_s`` (seconds from the start), ``kind`` (job,
    warm, request; default job) and ``tier`` (default standard)."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    try:
        return sorted(
            Arrival(
                float(row["at_s"]),
                _kind(row.get("kind") or JOB),
                Priority(row.get("tier") or Priority.STANDARD.value),
            )
            for row in rows
        )
    except (KeyError, ValueError) as exc:
        raise InvalidInput(f"trace {path}: {exc}") from exc


def write_trace(path: Path, arrivals: Sequence[Arrival]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["at_s", "kind", "tier"])
        writer.writerows([f"{a.at:.3f}", a.kind, a.tier.value] for a in arrivals)


def _kind(value: str) -> str:
    if value not in KINDS:
        raise ValueError(f"kind {value!r} is not one of {', '.join(KINDS)}")
    return value
