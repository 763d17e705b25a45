"""The backfill acceptance test on the local stack: a 400-photo tree (nested folders, two
photos sharing a stem, 10 bad files, 20 byte-identical duplicates) against a separately
started ``cutout up`` whose segmenter counts its passes. The CLI is stopped with SIGINT
after at least 160 submissions by its own journal, resumed, SIGKILLed, resumed again,
and the end state is checked: one output per good item per effect mirroring SRC, the 10
failures in the report with their codes, one model pass per distinct photo, counts that
add up, and no item with a second job. About 60-90 s on 2 shared cores.
"""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

from cutout.backfill import naming
from cutout.backfill.journal import submissions
from tests.support.pipeline import Pipeline, cutout_command, run_pipeline
from tests.support.segmenters import COUNT_LOG_VARIABLE, child_env

pytestmark = pytest.mark.slow

EFFECTS = ("color", "blackwhite")
DISTINCT = 370
DUPLICATES = 20
BAD = 10
FOLDERS = ("", "a", "a/b", "a/b/c", "d", "d/e")


def photo(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def make_tree(root: Path) -> dict[str, bytes]:
    """The tree; returns each good photo's relative path and bytes."""
    good: dict[str, bytes] = {}
    for n in range(DISTINCT):
        good[f"{FOLDERS[n % len(FOLDERS)]}/p{n:03d}.png".lstrip("/")] = photo(n)
    good["a/cat.png"] = good.pop("a/p001.png")  # two photos sharing a stem: cat.png and
    good["a/cat.jpg"] = good.pop("a/p007.png")  # cat.jpg (PNG bytes: content, not name)
    for n in range(DUPLICATES):
        good[f"dups/copy{n:02d}.png"] = photo(100 + n)
    for rel, data in good.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    for n in range(BAD):  # JPEGs cut short: sniffed as photos, refused by ingest
        (root / "bad" / f"broken{n}.jpg").parent.mkdir(exist_ok=True)
        (root / "bad" / f"broken{n}.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(200 + n))
    (root / "notes.txt").write_text("not a photo")
    (root / "a" / "loop").symlink_to("..")  # skipped: symlinks are not followed
    return good


@pytest.fixture
def counted_pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    env = {**child_env(tmp_path / "site"), COUNT_LOG_VARIABLE: str(tmp_path / "passes.log")}
    env["CUTOUT_MAX_WORKERS"] = "1"
    yield from run_pipeline(tmp_path, env, up_args=("--segmenter", "test-counting"))


def backfill(pipeline: Pipeline, *args: str) -> list[str]:
    return cutout_command("--data-dir", str(pipeline.data), "backfill", *args,
                          "--api", pipeline.url, "--effects", ",".join(EFFECTS))  # fmt: skip


def _default_sigint() -> None:
    """A shell runs background commands with SIGINT ignored, and Python then never turns
    it into KeyboardInterrupt: the CLI must get it as a terminal's Ctrl-C delivers it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt(command: list[str], journal: Path, at: int, sig: signal.Signals) -> None:
    """Run the CLI until its journal records ``at`` submissions, then send ``sig``."""
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_default_sigint
    )
    deadline = time.monotonic() + 120
    while submissions(journal) < at:
        if process.poll() is not None:
            _, err = process.communicate()
            pytest.fail(
                f"the CLI ended at {submissions(journal)} of {at} submissions: {err[-2000:]!r}"
            )
        assert time.monotonic() < deadline, f"the journal never reached {at} submissions"
        time.sleep(0.02)
    process.send_signal(sig)
    process.communicate(timeout=60)


def test_backfill_survives_sigint_and_sigkill_and_ends_exactly_once(
    counted_pipeline: Pipeline, tmp_path: Path
) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    good = make_tree(src)
    command = backfill(counted_pipeline, str(src), str(dest))
    dry = subprocess.run([*command, "--dry-run"], capture_output=True, text=True, check=True)
    batch = json.loads(dry.stdout)["batch"]
    journal = dest / naming.REPORT_DIR / f"{batch}.jsonl"

    interrupt(command, journal, 160, signal.SIGINT)
    assert submissions(journal) >= 160
    interrupt(command, journal, submissions(journal) + 40, signal.SIGKILL)
    done = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])

    outputs = {p.relative_to(dest).as_posix() for p in dest.rglob("*.png")}
    expected = {naming.output_name(rel, e, "png") for rel in good for e in EFFECTS}
    assert outputs == expected
    for rel in ("a/cat.png", "a/cat.jpg"):
        assert (dest / f"{rel}.color.png").exists()

    with (dest / naming.FAILURES_FILE).open() as fh:
        failures = list(csv.DictReader(fh))
    assert sorted(row["path"] for row in failures) == [f"bad/broken{n}.jpg" for n in range(BAD)]
    assert {row["code"] for row in failures} <= {"image_truncated", "image_corrupt"}

    assert summary["items"] == len(good) + BAD
    assert (
        summary["done"] + summary["cached"] + summary["failed"] + summary["pending"]
        == (summary["items"])
    )
    assert summary["failed"] == BAD and summary["pending"] == 0
    assert summary["not_images"] == 1 and summary["symlinks_skipped"] == 1

    passes = Counter((tmp_path / "passes.log").read_text().split())
    assert len(passes) == DISTINCT, "one pass per distinct photo, none missing"
    assert set(passes.values()) == {1}, passes.most_common(3)

    status = subprocess.run(
        backfill(counted_pipeline, "--status", batch), capture_output=True, text=True, check=True
    )
    counts = json.loads(status.stdout)["counts"]
    assert counts["done"] == len(good) and counts["queued"] == counts["running"] == 0
    jobs = requests.get(
        f"{counted_pipeline.url}/v1/jobs",
        params={"batch_id": batch, "limit": 1000},
        headers=_local_key(counted_pipeline),
        timeout=30,
    ).json()["jobs"]
    assert len(jobs) == len(good), "never a second job for one item"


def _local_key(pipeline: Pipeline) -> dict[str, str]:
    from cutout.cli.local_key import LOCAL_KEY_FILE

    return {"Authorization": f"Bearer {(pipeline.data / LOCAL_KEY_FILE).read_text().strip()}"}


def test_bench_backfill_prints_submission_and_drain_rates(counted_pipeline: Pipeline) -> None:
    command = cutout_command("--data-dir", str(counted_pipeline.data), "bench", "backfill",
                             "--photos", "30", "--api", counted_pipeline.url)  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["photos"] == 30 and result["failed"] == 0
    assert result["submission_per_s"] > 0 and result["drain_per_s"] > 0
    assert result["submitted_s"] <= result["drained_s"]
