"""``cutout bench effects``: every effect on a 12 MP RGBA input, then one job with all the
artistic effects the way the worker runs it.

The input is generated in-process and deterministic: a photo-like cut-out (smooth
backdrop, fur-like multi-scale texture, dark eyes, sensor noise, a soft-edged subject).
Each effect runs once to warm up (first-touch allocations, OpenCV thread pool start),
then ``--repeat`` times; the median is reported. Ends with one JSON line:
``{"effects": {name: seconds}, "all_s": seconds, ...}``.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from functools import partial

import click
import cv2
import numpy as np

import effects
from effects import EffectContext

#: The looks the acceptance budget covers (each ≤ 1 s, together ≤ 3 s at 12 MP).
ARTISTIC = ("blackwhite", "popart", "halftone", "retro8bit")
#: Heavier non-default settings worth watching, printed but not in the JSON.
VARIANTS: dict[str, dict[str, object]] = {
    "background": {"mode": "blur", "shadow": 0.5},
    "crop": {"aspect": "4:5", "size": 2400},
}


def synthetic_cutout(width: int = 4000, height: int = 3000, seed: int = 0) -> np.ndarray:
    """A deterministic photo-like RGBA cut-out of ``width`` x ``height``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    fur = np.zeros((height, width), dtype=np.float32)
    for cells, weight in ((8, 0.5), (40, 0.3), (400, 0.2)):
        octave = rng.random((cells * height // width + 1, cells + 1), dtype=np.float32)
        fur += weight * cv2.resize(octave, (width, height), interpolation=cv2.INTER_CUBIC)
    brown = np.array([150, 100, 60], dtype=np.float32)
    rgb = fur[:, :, None] * brown * 1.4 + (xx / width)[:, :, None] * 40
    for ex in (0.38, 0.62):  # two dark eyes with a highlight
        eye = ((xx - ex * width) ** 2 + (yy - 0.4 * height) ** 2) < (0.05 * height) ** 2
        rgb[eye] = (40, 35, 20)
    rgb += rng.normal(0.0, 3.0, size=rgb.shape).astype(np.float32)
    d = ((xx - width / 2) / (0.38 * width)) ** 2 + ((yy - height / 2) / (0.45 * height)) ** 2
    alpha = np.clip((1.0 - d) * 12.0 + (fur - 0.5) * 4.0, 0.0, 1.0) * 255.0
    return np.dstack([np.clip(rgb, 0, 255), alpha]).astype(np.uint8)


def _median_seconds(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(first call, median of ``repeat`` later calls), in seconds."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return first, statistics.median(times)


def _job(rgba: np.ndarray, ctx: EffectContext, names: Sequence[str], threads: int) -> None:
    steps = [(n, effects.validate(n, {})) for n in names]
    for outcome in effects.run_all(steps, rgba, ctx, threads=threads):
        if outcome.error is not None:
            raise outcome.error


@click.command("effects")
@click.option("--repeat", type=click.IntRange(1, 50), default=3, show_default=True)
@click.option("--width", type=click.IntRange(64, 12000), default=4000, show_default=True)
@click.option("--height", type=click.IntRange(64, 12000), default=3000, show_default=True)
@click.option(
    "--threads", type=click.IntRange(1, 64), default=2, show_default=True,
    help="threads for the all-effects job (all_s); 1 thread is timed too",
)  # fmt: skip
def command(repeat: int, width: int, height: int, threads: int) -> None:
    """Seconds per effect at 12 MP, and one job with all artistic effects."""
    rgba = synthetic_cutout(width, height)
    ctx = EffectContext(original=np.ascontiguousarray(rgba[:, :, :3]))
    load = os.getloadavg()[0]
    tuned = "MALLOC_MMAP_THRESHOLD_" in os.environ  # see effects/README.md, "Measured"
    click.echo(f"input {width}x{height} RGBA ({width * height / 1e6:.1f} MP), {os.cpu_count()} "
               f"CPUs, load {load:.2f}, median of {repeat}, malloc tuned: {tuned}")  # fmt: skip
    seconds: dict[str, float] = {}
    first_call: dict[str, float] = {}
    for name in effects.names():
        chain = [(name, effects.validate(name, {}))]
        first_call[name], seconds[name] = _median_seconds(
            partial(effects.run, chain, rgba, ctx), repeat
        )
        click.echo(f"  {name:<12} {seconds[name]:6.3f} s   (first call {first_call[name]:.3f} s)")
    for name, params in VARIANTS.items():
        chain = [(name, effects.validate(name, params))]
        _, t = _median_seconds(partial(effects.run, chain, rgba, ctx), repeat)
        click.echo(f"  {name:<12} {t:6.3f} s   with {json.dumps(params)}")
    looks = sum(seconds[n] for n in ARTISTIC)
    click.echo(f"  sum of {', '.join(ARTISTIC)}: {looks:.3f} s")
    _, serial = _median_seconds(lambda: _job(rgba, ctx, ARTISTIC, 1), repeat)
    click.echo(f"  job, all artistic effects, 1 thread:  {serial:6.3f} s")
    all_s = serial
    if threads > 1:
        _, all_s = _median_seconds(lambda: _job(rgba, ctx, ARTISTIC, threads), repeat)
        click.echo(f"  job, all artistic effects, {threads} threads: {all_s:6.3f} s")
    result = {
        "effects": {n: round(s, 4) for n, s in seconds.items()},
        "all_s": round(all_s, 4),
        "all_1thread_s": round(serial, 4),
        "threads": threads,
        "megapixels": round(width * height / 1e6, 2),
        "malloc_tuned": tuned,
    }
    click.echo(json.dumps(result))
