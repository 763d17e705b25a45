"""Print what one quota check costs (microseconds), on memory:// and on a real local
redis-server. A measurement to read, not a test: run it with
``PYTHONPATH=. .venv/bin/python scripts/measure_quotas.py``."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from cutout.quotas import CallerKind, Quota, QuotaCaller, QuotaDefaults, QuotaLimiter
from tests.support.redis_server import running_redis

ROOMY = Quota(requests_per_minute=10**9, images_per_day=10**9)
DEFAULTS = QuotaDefaults(ROOMY, ROOMY, ROOMY, ROOMY, warm_per_minute=10**9)
CASES = {
    "anonymous poll": (QuotaCaller(CallerKind.ANONYMOUS, "203.0.113.7"), 0),
    "anonymous submit": (QuotaCaller(CallerKind.ANONYMOUS, "203.0.113.7"), 1),
    "secret submit": (QuotaCaller(CallerKind.SECRET, "10.0.0.1", key_id="sk"), 1),
    "publishable submit": (QuotaCaller(CallerKind.PUBLISHABLE, "192.0.2.1", key_id="pk"), 1),
}


def measure(uri: str, rounds: int) -> None:
    limiter = QuotaLimiter(uri, DEFAULTS)
    for name, (caller, images) in CASES.items():
        for _ in range(50):  # warm the connection and the code paths
            limiter.check(caller, images=images)
        began = time.perf_counter()
        for _ in range(rounds):
            assert limiter.check(caller, images=images).allowed
        per_check_us = (time.perf_counter() - began) / rounds * 1e6
        print(f"{uri.split(':')[0]:7} {name:20} {per_check_us:8.1f} us per check")


def main() -> None:
    measure("memory://", 5000)
    with tempfile.TemporaryDirectory() as tmp, running_redis(Path(tmp)) as url:
        measure(url, 2000)


if __name__ == "__main__":
    main()
