"""What a backfill reads: the items of a folder (recursive, photos told by content) or of
a manifest (one path per line), each with the relative path its outputs mirror.

Symlinks are skipped unless ``follow_symlinks``; when followed, a directory reached twice
(a loop, or two links to one place) is walked once, by its device and inode. Items come
sorted by relative path, so two listings of one tree agree.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cutout.errors import InvalidInput
from cutout.imaging import sniff_format

log = logging.getLogger(__name__)

SNIFF_BYTES = 16


@dataclass(frozen=True)
class Item:
    """One photo: ``rel`` is its POSIX path relative to the source (outputs mirror it)."""

    rel: str
    path: Path
    size: int


@dataclass(frozen=True)
class ObjectItem:
    """One gs:// object, listed with its generation and size, never read (by reference)."""

    rel: str
    uri: str
    generation: int
    size: int


Source = Item | ObjectItem


@dataclass
class Listing:
    items: list[Source]
    not_images: int = 0  # files skipped because their content is no image format
    links_skipped: int = 0
    loops: int = 0


def list_source(src: str, *, follow_symlinks: bool = False) -> Listing:
    """The items of ``src``: a folder, or a manifest file (one path per line, relative to
    the manifest's folder or absolute). gs:// sources are listed by
    :func:`cutout.backfill.by_reference.list_objects`."""
    root = Path(src)
    if root.is_dir():
        listing = Listing([])
        listing.items = sorted(_walk(root, follow_symlinks, listing), key=lambda i: i.rel)
        return listing
    if root.is_file():
        return _manifest(root)
    raise InvalidInput(f"{src} is neither a folder nor a manifest file", code="invalid_source")


def _walk(root: Path, follow: bool, listing: Listing) -> Iterator[Item]:
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        info = folder.stat()
        if (info.st_dev, info.st_ino) in seen:
            log.warning("%s: already walked (a symlink loop?); skipped", folder)
            listing.loops += 1
            continue
        seen.add((info.st_dev, info.st_ino))
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_symlink() and not follow:
                    listing.links_skipped += 1
                    continue
                path = Path(entry.path)
                try:
                    mode = path.stat().st_mode
                except OSError:
                    log.warning("%s: unreadable (a dangling link?); skipped", path)
                    continue
                if stat.S_ISDIR(mode):
                    stack.append(path)
                elif stat.S_ISREG(mode):
                    item = _photo(path, path.relative_to(root).as_posix())
                    if item is None:
                        listing.not_images += 1
                    else:
                        yield item


def _photo(path: Path, rel: str) -> Item | None:
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if sniff_format(head) is None:
        return None
    return Item(rel=rel, path=path, size=path.stat().st_size)


def _manifest(manifest: Path) -> Listing:
    listing = Listing([])
    for number, line in enumerate(manifest.read_text().splitlines(), start=1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        path = Path(entry) if Path(entry).is_absolute() else manifest.parent / entry
        rel = PurePosixPath(entry.lstrip("/"))
        if ".." in rel.parts:
            raise InvalidInput(f"{manifest}:{number}: '..' is not allowed", code="invalid_source")
        if not path.is_file():
            raise InvalidInput(f"{manifest}:{number}: no file {entry}", code="invalid_source")
        item = _photo(path, rel.as_posix())
        if item is None:
            listing.not_images += 1
        else:
            listing.items.append(item)
    listing.items.sort(key=lambda i: i.rel)
    return listing
