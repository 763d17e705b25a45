"""The backfill's pure parts: the folder walk (content, symlinks, loops), manifests,
names that never collide, and the worker's alpha memo (one pass per distinct input)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cutout.backfill import naming
from cutout.backfill.sources import list_source
from cutout.errors import InvalidInput
from worker.coalesce import AlphaMemo


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3)).save(buffer, format="PNG")
    return buffer.getvalue()


def tree(root: Path) -> None:
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "cat.jpg").write_bytes(png())  # named .jpg, a PNG inside: still a photo
    (root / "a" / "cat.png").write_bytes(png())
    (root / "a" / "b" / "photo.dat").write_bytes(png())
    (root / "a" / "readme.png").write_text("not a photo, whatever its name")
    (root / "a" / "b" / "up").symlink_to("../..")  # a loop when followed


def test_a_folder_is_walked_by_content_and_symlinks_are_skipped(tmp_path: Path) -> None:
    tree(tmp_path)
    listing = list_source(str(tmp_path))
    assert [i.rel for i in listing.items] == ["a/b/photo.dat", "a/cat.jpg", "a/cat.png"]
    assert listing.not_images == 1 and listing.links_skipped == 1 and listing.loops == 0


def test_followed_symlinks_detect_the_loop(tmp_path: Path) -> None:
    tree(tmp_path)
    listing = list_source(str(tmp_path), follow_symlinks=True)
    assert [i.rel for i in listing.items] == ["a/b/photo.dat", "a/cat.jpg", "a/cat.png"]
    assert listing.loops == 1


def test_a_manifest_lists_paths_and_refuses_escapes(tmp_path: Path) -> None:
    tree(tmp_path)
    manifest = tmp_path / "list.txt"
    manifest.write_text("# photos\na/cat.png\n\na/readme.png\n")
    listing = list_source(str(manifest))
    assert [i.rel for i in listing.items] == ["a/cat.png"] and listing.not_images == 1
    manifest.write_text("../etc/passwd\n")
    with pytest.raises(InvalidInput, match=r"'\.\.' is not allowed"):
        list_source(str(manifest))


def test_names_keep_the_full_source_name_and_keys_depend_on_every_part() -> None:
    names = {naming.output_name(rel, "color", "png") for rel in ("a/cat.jpg", "a/cat.png")}
    assert names == {"a/cat.jpg.color.png", "a/cat.png.color.png"}
    key = naming.idempotency_key("bf-1", "a/cat.jpg", "00" * 32)
    assert key == naming.idempotency_key("bf-1", "a/cat.jpg", "00" * 32)
    others = {
        naming.idempotency_key("bf-2", "a/cat.jpg", "00" * 32),
        naming.idempotency_key("bf-1", "a/cat.png", "00" * 32),
        naming.idempotency_key("bf-1", "a/cat.jpg", "11" * 32),
        naming.idempotency_key("bf-1", "a/cat.jpg", "00" * 32, retry=1),
    }
    assert key not in others and len(others) == 4 and len(key) <= 255
    options = {"effects": ["color"], "params": {}, "format": "png"}
    assert naming.batch_id("/src", options) == naming.batch_id("/src", dict(options))
    assert naming.batch_id("/src", options) != naming.batch_id(
        "/src", {**options, "format": "webp"}
    )


def test_the_memo_segments_each_distinct_input_once() -> None:
    calls: list[int] = []

    def segment(images: list[np.ndarray]) -> list[np.ndarray]:
        calls.append(len(images))
        return [image[..., 0].copy() for image in images]

    a, b = np.full((2, 2, 3), 1, np.uint8), np.full((2, 2, 3), 2, np.uint8)
    memo = AlphaMemo()
    first = memo.segment(["a", "b", "a"], [a, b, a], segment)
    assert calls == [2] and [int(x[0, 0]) for x in first] == [1, 2, 1]
    again = memo.segment(["b", "a"], [b, a], segment)
    assert calls == [2] and [int(x[0, 0]) for x in again] == [2, 1]


def test_the_memo_forgets_the_oldest_past_its_bound() -> None:
    memo = AlphaMemo(max_bytes=8)
    seen: list[str] = []

    def segment(images: list[np.ndarray]) -> list[np.ndarray]:
        seen.extend(str(int(i[0, 0, 0])) for i in images)
        return [np.zeros((2, 2), np.uint8) for _ in images]

    for key in ("1", "2", "3", "1"):
        memo.segment([key], [np.full((2, 2, 3), int(key), np.uint8)], segment)
    assert seen == ["1", "2", "3", "1"]  # 4-byte alphas, 8 bytes kept: "1" was dropped


def test_a_gs_dest_needs_a_gs_source(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cutout.cli.main import cli

    runner = CliRunner()
    args = ["--data-dir", str(tmp_path / "data"), "backfill"]
    to_gs = runner.invoke(cli, [*args, str(tmp_path), "gs://bucket/out", "--dry-run"])
    assert to_gs.exit_code == 1 and "give a gs:// SRC too" in to_gs.output


def test_shards_are_disjoint_and_cover_the_listing(monkeypatch: pytest.MonkeyPatch) -> None:
    from cutout.backfill.by_reference import Shard
    from cutout.errors import InvalidInput

    rels = [f"a/{n}.jpg" for n in range(500)]
    shards = [Shard.parse(f"{i}/4") for i in range(4)]
    held = [[rel for rel in rels if shard.holds(rel)] for shard in shards]
    assert sorted(rel for part in held for rel in part) == sorted(rels)
    assert all(len(part) > 60 for part in held)  # spread, not all in one task
    monkeypatch.setenv("CLOUD_RUN_TASK_INDEX", "2")
    monkeypatch.setenv("CLOUD_RUN_TASK_COUNT", "4")
    assert Shard.parse(None) == shards[2] and shards[2].suffix == ".shard-2-of-4"
    for bad in ("4/4", "x/2", "1"):
        with pytest.raises(InvalidInput):
            Shard.parse(bad)
