"""Download model weights at image build time and refuse them unless the sha256 matches.

Usage: fetch_weights.py URI SHA256 DEST

URI is https://, http:// or file:// (checksum-verified, so plain http is safe). The
file is streamed to a temporary name beside DEST and renamed only after the checksum
matches, so DEST either holds the exact expected bytes or does not exist. Standard
library only: it runs in base images before the project is installed.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import tempfile
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

SCHEMES = ("https", "http", "file")
CHUNK = 1 << 20
TIMEOUT_S = 60


class FetchError(Exception):
    """The weights could not be fetched or did not match the expected checksum."""


def fetch(uri: str, sha256: str, dest: Path) -> None:
    expected = sha256.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", expected):
        raise FetchError(
            f"WEIGHTS_SHA256 must be 64 hex digits, got {sha256!r}; "
            "compute it once with: curl -fL URI | sha256sum"
        )
    scheme = urlparse(uri).scheme
    if scheme not in SCHEMES:
        raise FetchError(f"unsupported weights URI {uri!r}: use one of {', '.join(SCHEMES)}")

    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(uri, timeout=TIMEOUT_S) as src:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
        actual = digest.hexdigest()
        if actual != expected:
            raise FetchError(f"checksum mismatch for {uri}: expected {expected}, got {actual}")
        tmp.replace(dest)
    except OSError as exc:  # URLError is an OSError
        raise FetchError(f"cannot fetch {uri}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    uri, sha256, dest = argv
    try:
        fetch(uri, sha256, Path(dest))
    except FetchError as exc:
        print(f"fetch_weights: {exc}", file=sys.stderr)
        return 1
    size = Path(dest).stat().st_size
    print(f"fetch_weights: {dest} ({size} bytes) matches sha256 {sha256.strip().lower()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
