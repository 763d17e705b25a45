"""``cutout plan``: predict latency, cold starts and cost before deploying, by simulating
the traffic against the project's own scaling policy (:mod:`cutout.scaling`), pull order
(:mod:`cutout.tier_order`) and worker loop rules (:mod:`worker.rules`).

It lives in ``worker/`` because it drives the worker's rules, which ``cutout/`` may not
import (dependencies point one way: ingest → cutout ← worker); it is registered as a
``cutout`` command through the ``cutout.commands`` entry point, like ``cutout worker``.
Its output is :func:`cutout.summary.summarize` over the simulated records: the same keys,
computed by the same definitions, as ``cutout report`` over real ones.
"""
