"""Stage timings as jobs record them: seconds, rounded to 0.1 ms."""

from __future__ import annotations

import time


def since(mark: float) -> float:
    """Seconds from ``mark`` (a ``time.perf_counter()`` reading) to now."""
    return round(time.perf_counter() - mark, 4)
