"""One backfill run: submit every item at ``batch`` priority, poll what is pending,
download each finished result to DEST, and report.

Exactly once: each item's job is named by its idempotency key (batch, relative path,
sha256; cutout/backfill/naming.py), so submitting an item again, after a crash that lost
the journal's last lines, is answered with the job it already has. The journal
(journal.py) only saves those requests: a rerun skips items done with their outputs in
place, polls the jobs of items still pending, and leaves failed items failed unless
``retry_failed`` (each retry is a new job, counted in the journal). A refused item (a bad
file's 4xx) is reported and the run goes on; 429/503 with ``Retry-After`` are waited out
by :class:`~cutout.cli.client.Api`. Submissions run ahead of the workers on
``concurrency`` threads; the service's backlog bound paces them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from cutout.backfill import naming
from cutout.backfill.journal import DONE, FAILED, SUBMITTED, Entry, Journal
from cutout.backfill.progress import Progress
from cutout.backfill.sources import Item, Source
from cutout.cli.client import Api
from cutout.job import OutputFormat

log = logging.getLogger(__name__)

POLL_EVERY_S = 0.5
POLLS_PER_ROUND = 256
#: Polls a round makes beyond the jobs the batch's count says finished since the last
#: round (workers serve a tier oldest first, so the oldest pending are polled first).
POLL_SLACK = 16
#: Sends of one request when the connection fails (a server closing a kept-alive
#: connection); safe for submissions too: the idempotency key makes them one job.
SENDS = 4


def resent(send: Callable[[], requests.Response]) -> requests.Response:
    """``send()``, sent again after a connection error, at most :data:`SENDS` times."""
    for attempt in range(1, SENDS + 1):
        try:
            return send()
        except requests.ConnectionError:
            if attempt == SENDS:
                raise
            time.sleep(0.2 * attempt)
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Options:
    effects: tuple[str, ...]
    params: dict[str, Any]
    fmt: OutputFormat
    concurrency: int = 8
    overwrite: bool = False
    retry_failed: bool = False

    def identity(self) -> dict[str, Any]:
        """What shapes the results, for the batch id."""
        return {"effects": list(self.effects), "params": self.params, "format": self.fmt.value}

    def reference_fields(self) -> dict[str, Any]:
        """The same request as :meth:`fields`, as a by-reference batch's JSON body."""
        return {"effects": list(self.effects), "format": self.fmt.value, "params": self.params}

    def fields(self, batch: str) -> dict[str, str]:
        fields = {"effects": ",".join(self.effects), "format": self.fmt.value}
        # no display rendition: nobody watches a backfill (it would cost a WebP per result)
        fields |= {"priority": "batch", "batch_id": batch, "renditions": "full"}
        return fields | ({"params": json.dumps(self.params)} if self.params else {})

    def outputs(self, rel: str) -> dict[str, str]:
        """Each effect's output path relative to DEST."""
        ext = self.fmt.extension
        return {e: naming.output_name(rel, e, ext) for e in self.effects}


@dataclass
class Backfill:
    api: Api
    dest: Path
    batch: str
    options: Options
    journal: Journal
    progress: Progress
    failures: dict[str, tuple[str, str]] = field(default_factory=dict)
    submitted_s: float | None = None  # seconds from the start until every item was sent
    _finished_seen: int | None = None  # the batch's finished count at the last round

    def run(self, items: list[Source]) -> None:
        """Every item to done or failed; a KeyboardInterrupt stops it with the journal
        consistent (a rerun resumes)."""
        pool = ThreadPoolExecutor(self.options.concurrency, thread_name_prefix="backfill")
        began = time.monotonic()
        try:
            starts = [pool.submit(self._start, item) for item in items]
            pending: dict[str, str] = {}
            while starts or pending:
                finished = {f for f in starts if f.done()}  # partitioned once: a start
                starts = [f for f in starts if f not in finished]  # is taken exactly once
                for started in finished:
                    pending.update(started.result())
                if not starts and self.submitted_s is None:
                    self.submitted_s = time.monotonic() - began
                self._poll_round(pool, pending)
                self.progress.tick()
                time.sleep(POLL_EVERY_S if pending or starts else 0)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    # -- items ------------------------------------------------------------------------

    def _start(self, item: Source) -> dict[str, str]:
        """Triage one item by its journal entry; returns ``{rel: job id}`` if it waits."""
        entry = self.journal.entries.get(item.rel)
        if entry is not None and entry.event == DONE and self._outputs_present(item.rel):
            self.progress.add("cached" if entry.cached else "done", here=False)
            return {}
        if entry is not None and entry.event == FAILED and not self.options.retry_failed:
            self._failed(item.rel, entry.code or "failed", entry.message or "", entry.retries)
            self.progress.add("failed", here=False)
            return {}
        if entry is not None and entry.job and entry.event != FAILED:
            self.progress.add("pending")
            return {item.rel: entry.job}
        retries = entry.retries + 1 if entry is not None and entry.event == FAILED else 0
        return self._submit(item, retries)

    def _send(self, item: Source, retries: int) -> tuple[requests.Response, Any]:
        """Submit the item's photo; the answer and its JSON body (a job or an error)."""
        if not isinstance(item, Item):
            raise TypeError(f"{item.rel}: a gs:// object goes by reference (by_reference.py)")
        data = item.path.read_bytes()
        key = naming.idempotency_key(
            self.batch, item.rel, hashlib.sha256(data).hexdigest(), retries
        )
        response = resent(
            lambda: self.api.send_photo(
                data, item.path.name, self.options.fields(self.batch), {"Idempotency-Key": key}
            )
        )
        return response, response.json()

    def _submit(self, item: Source, retries: int) -> dict[str, str]:
        try:
            response, body = self._send(item, retries)
        except (requests.RequestException, ValueError) as exc:
            self._failed(item.rel, "unreachable", f"{type(exc).__name__}: {exc}", retries)
            self.progress.add("failed")
            return {}
        if response.status_code >= 400 or not isinstance(body, dict) or "id" not in body:
            error = (body.get("error") or {}) if isinstance(body, dict) else {}
            code = str(error.get("code", f"http_{response.status_code}"))
            self._failed(item.rel, code, str(error.get("message", "")), retries)
            self.progress.add("failed")
            return {}
        self.journal.record(Entry(item.rel, SUBMITTED, job=body["id"], retries=retries))
        self.progress.add("pending")
        if body["state"] in ("done", "failed"):
            cached = response.status_code == 200 and "Idempotent-Replayed" not in response.headers
            self._finish(item.rel, body, retries, cached=cached)
            return {}
        return {item.rel: body["id"]}

    def _poll_round(self, pool: ThreadPoolExecutor, pending: dict[str, str]) -> None:
        if not pending:
            return
        polled: list[tuple[str, Future[dict[str, Any] | None]]] = [
            (rel, pool.submit(self._poll, job_id))
            for rel, job_id in list(pending.items())[: self._poll_budget()]
        ]
        for rel, future in polled:
            job = future.result()
            if job is None:
                continue
            del pending[rel]
            entry = self.journal.entries.get(rel)
            self._finish(rel, job, entry.retries if entry else 0, cached=False)

    def _poll_budget(self) -> int:
        """How many pending jobs to poll this round: those the batch's count (one cheap
        request, counted by the store) says finished since the last round, plus
        :data:`POLL_SLACK`; so polling follows the drain and stays within a key's quota."""
        try:
            response = resent(lambda: self.api.call("GET", f"/v1/batches/{self.batch}"))
            finished = int(response.json()["finished"]) if response.status_code == 200 else None
        except (requests.RequestException, ValueError, KeyError):
            finished = None
        if finished is None:
            return POLL_SLACK
        seen, self._finished_seen = self._finished_seen, finished
        grown = POLLS_PER_ROUND if seen is None else finished - seen
        return min(POLLS_PER_ROUND, max(grown, 0) + POLL_SLACK)

    def _poll(self, job_id: str) -> dict[str, Any] | None:
        """The job once it is finished, else ``None``."""
        try:
            response = resent(lambda: self.api.call("GET", f"/v1/jobs/{job_id}"))
        except requests.RequestException as exc:
            log.warning("job %s: polling failed (%s); polling again later", job_id, exc)
            return None
        if response.status_code == 404:
            return {"id": job_id, "state": "failed", "error": response.json()["error"]}
        if response.status_code != 200:
            log.warning("job %s: HTTP %s; polling again later", job_id, response.status_code)
            return None
        job: dict[str, Any] = response.json()
        return job if job["state"] in ("done", "failed") else None

    def _finish(self, rel: str, job: dict[str, Any], retries: int, *, cached: bool) -> None:
        """Download a finished job's results (or record why there are none)."""
        if job["state"] == "failed":
            error = job.get("error") or {}
            self._failed(rel, error.get("code", "failed"), error.get("message", ""), retries)
            self._unpend("failed")
            return
        problem = self._deliver(job, rel)
        if problem is not None:
            self._failed(rel, *problem, retries)
            self._unpend("failed")
            return
        self.journal.record(Entry(rel, DONE, job=job["id"], retries=retries, cached=cached))
        self._unpend("cached" if cached else "done")

    def _deliver(self, job: dict[str, Any], rel: str) -> tuple[str, str] | None:
        """Put a done job's results in DEST; ``(code, message)`` of the first that fails."""
        for effect, out in self.options.outputs(rel).items():
            problem = self._download(job, effect, self.dest / out)
            if problem is not None:
                return problem
        return None

    def _download(self, job: dict[str, Any], effect: str, dest: Path) -> tuple[str, str] | None:
        """Write one result to ``dest``; ``(code, message)`` if it cannot be."""
        result = job.get("results", {}).get(effect)
        if result is None:
            error = job.get("effect_errors", {}).get(effect, {})
            return error.get("code", "effect_failed"), error.get("message", f"no {effect} result")
        if dest.exists() and not self.options.overwrite:
            if dest.stat().st_size == result["bytes"]:
                return None
            return "output_exists", f"{dest} exists and differs; use --overwrite"
        url = self.api.absolute(result["url"])
        try:
            response = resent(lambda: self.api.session.get(url, timeout=60))
        except requests.RequestException as exc:
            return "download_failed", f"downloading {effect} failed: {exc}"
        if response.status_code != 200:
            return f"download_http_{response.status_code}", f"downloading {effect} failed"
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(f".{dest.name}.partial")
        partial.write_bytes(response.content)
        os.replace(partial, dest)
        return None

    # -- bookkeeping ------------------------------------------------------------------

    def _outputs_present(self, rel: str) -> bool:
        """Whether the item's outputs are in DEST (a rerun skips a done item only then)."""
        return all((self.dest / out).exists() for out in self.options.outputs(rel).values())

    def _failed(self, rel: str, code: str, message: str, retries: int) -> None:
        self.failures[rel] = (code, message)
        entry = self.journal.entries.get(rel)
        if entry is None or entry.event != FAILED or entry.code != code:
            self.journal.record(Entry(rel, FAILED, code=code, message=message, retries=retries))

    def _unpend(self, kind: str) -> None:
        self.progress.move("pending", kind)
