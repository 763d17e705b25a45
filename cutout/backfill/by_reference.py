"""A backfill of a gs:// source, by reference: the objects are listed (name, generation,
size; never downloaded) and sent as by-reference items (``POST /v1/batches/<id>/items``,
ingest/references.py); the worker reads them. With a gs:// DEST the service writes the
results there itself, so a finished job is a delivered item and nothing is downloaded;
with a local DEST the results are downloaded as for a folder source.

Shards: a very large prefix is split over the tasks of a Cloud Run job (infra/backfill.tf)
by :class:`Shard`; each task lists the prefix and submits only the items whose relative
path hashes to its index, so the shards are disjoint and together cover the listing, in
the same code path as ``cutout backfill`` on an operator's machine.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

import requests

from cutout import refs
from cutout.backfill import naming
from cutout.backfill.runner import Backfill, resent
from cutout.backfill.sources import Listing, ObjectItem, Source
from cutout.codes import ErrorCode
from cutout.errors import InvalidInput
from cutout.ports.objects import ObjectStore


@dataclass(frozen=True)
class Shard:
    """Task ``index`` of ``count`` (0-based, as Cloud Run numbers its tasks)."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str | None) -> Shard:
        """``i/n`` (``--shard``); without it, the Cloud Run task's own index and count
        (``CLOUD_RUN_TASK_INDEX``/``CLOUD_RUN_TASK_COUNT``), else the whole listing."""
        if text is None:
            env = os.environ
            text = f"{env.get('CLOUD_RUN_TASK_INDEX', 0)}/{env.get('CLOUD_RUN_TASK_COUNT', 1)}"
        index, _, count = text.partition("/")
        if not (index.isdigit() and count.isdigit() and int(index) < int(count)):
            raise InvalidInput(f"shard {text!r} is not i/n with 0 <= i < n", code="invalid_shard")
        return cls(int(index), int(count))

    def holds(self, rel: str) -> bool:
        digest = hashlib.sha256(rel.encode()).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index

    @property
    def suffix(self) -> str:
        """What the shard's journal and report names add ("" for a whole listing)."""
        return "" if self.count == 1 else f".shard-{self.index}-of-{self.count}"


def list_objects(store: ObjectStore, src: str) -> Listing:
    """The photos under the gs:// prefix ``src``, told by name (their bytes are never
    read here: the worker refuses one that is no image, reported as a failure)."""
    prefix = refs.check_prefix(src)
    listing = Listing([])
    for entry in store.list(prefix):
        rel = entry.uri.removeprefix(prefix)
        if _looks_like_a_photo(rel):
            listing.items.append(ObjectItem(rel, entry.uri, entry.generation, entry.size))
        else:
            listing.not_images += 1
    listing.items.sort(key=lambda i: i.rel)
    return listing


def _looks_like_a_photo(rel: str) -> bool:
    """Names only (reading 16 bytes of 100 000 objects is 100 000 requests): anything but
    our own reports and hidden files is offered, and the worker tells by content."""
    name = rel.rsplit("/", 1)[-1]
    hidden = any(part.startswith(".") for part in rel.split("/"))
    return not hidden and not name.startswith((naming.SUMMARY_STEM, naming.FAILURES_STEM))


@dataclass
class ReferenceBackfill(Backfill):
    """:class:`Backfill` with items sent by reference; ``dest_uri`` (a gs:// DEST) makes
    the service deliver, else results are downloaded into ``dest``."""

    dest_uri: str | None = None

    def _send(self, item: Source, retries: int) -> tuple[requests.Response, Any]:
        if not isinstance(item, ObjectItem):
            raise InvalidInput(f"{item.rel} is no gs:// object", code=ErrorCode.INVALID_URI)
        body = {
            **self.options.reference_fields(),
            "items": [{"uri": item.uri, "generation": item.generation,
                       "relative_path": item.rel, "size": item.size, "retry": retries}],
        }  # fmt: skip
        if self.dest_uri is not None:
            body["dest"] = self.dest_uri
        response = resent(lambda: self.api.post_json(f"/v1/batches/{self.batch}/items", body))
        answer = response.json()
        if response.status_code >= 400 or not isinstance(answer, dict):
            return response, answer
        item_answer = answer["items"][0]
        if "id" not in item_answer:
            return response, item_answer  # its key was used for another request
        # The answer names the job, not its results or error: the poll fetches them.
        return response, {**item_answer, "state": "queued"}

    def _outputs_present(self, rel: str) -> bool:
        return self.dest_uri is not None or super()._outputs_present(rel)

    def _deliver(self, job: dict[str, Any], rel: str) -> tuple[str, str] | None:
        if self.dest_uri is not None:
            return None  # the worker wrote DEST before it finished the job
        return super()._deliver(job, rel)
