"""The worker loop's decisions, as pure functions of its state and a clock reading, so
the loop and a simulation of it (the scaling planner) run the very same rules.

Times are seconds on one monotonic clock (the loop passes ``time.monotonic()``; a
simulation passes its own). Nothing here sleeps, reads settings or touches a backend.
"""

from __future__ import annotations

#: The longest single wait while topping up a batch: how late a batch that waited for the
#: model (or the device) starts once it is free; both queues poll every 50 ms anyway.
#: Waiting out the window in one pull, a cold worker's first job lost all 200 ms of it
#: after a 15 ms GrabCut load.
TOP_UP_SLICE_S = 0.05


def fill_wait(
    have: int,
    batch_size: int,
    *,
    first_at: float,
    now: float,
    batch_wait_s: float,
    stopping: bool,
    would_wait: bool,
) -> float | None:
    """How long to wait for more messages to top up a batch, or ``None`` to stop filling.

    A batch is topped up only once it has a first message (an empty pull is an idle
    poll, not a batch), until it is full, for at most ``batch_wait_s`` after that first
    message arrived at ``first_at``, never while the worker is stopping, and only while
    the batch ``would_wait`` anyway (another batch holds the device, or the model is still
    loading): a ready, idle worker starts a lone job at once, since waiting for company
    would only delay the phone waiting for that one photo.

    The wait is at most :data:`TOP_UP_SLICE_S`, after which the caller asks again: the
    reason to wait can end before the window does."""
    if have == 0 or have >= batch_size or stopping or not would_wait:
        return None
    left = first_at + batch_wait_s - now
    return min(left, TOP_UP_SLICE_S) if left > 0 else None


def idle_for(in_flight: int, idle_since: float, now: float) -> float:
    """Seconds without any batch in flight: 0 while one is; otherwise since the last batch
    ended (or the worker started), ``idle_since``."""
    return 0.0 if in_flight else max(now - idle_since, 0.0)


def should_exit_idle(in_flight: int, idle_since: float, now: float, idle_exit_s: float) -> bool:
    """Exit once idle for longer than ``idle_exit_s``; ``idle_exit_s == 0`` never exits."""
    return idle_exit_s > 0 and idle_for(in_flight, idle_since, now) > idle_exit_s


def reached_max_batches(batches: int, max_batches: int | None) -> bool:
    """Whether the worker has started all the batches it was allowed (``None``: no limit)."""
    return max_batches is not None and batches >= max_batches
