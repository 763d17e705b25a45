"""A tiny web shop on its own local origin, for the CORS test in real Chromium: a
stdlib HTTP server in a thread serving one page (which submits a photo to ingest with a
publishable key via fetch() and polls it to done) and the photo it submits."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SHOP_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>a shop</title></head><body>
<script>
"use strict";
window.outcome = null;
async function submitPhoto(api, key) {
  try {
    const photo = await (await fetch("/photo.png")).blob();
    const data = new FormData();
    data.append("file", photo, "pet.png");
    const headers = { "X-Api-Key": key, "Idempotency-Key": "shop-" + Date.now() };
    const answer = await fetch(api + "/v1/jobs", { method: "POST", body: data, headers });
    const location = answer.headers.get("Location");
    let job = await answer.json();
    if (!answer.ok) { window.outcome = { status: answer.status, job }; return; }
    while (job.state !== "done" && job.state !== "failed") {
      await new Promise((r) => setTimeout(r, 1000));  // Retry-After's pace: within the quota
      job = await (await fetch(api + location, { headers: { "X-Api-Key": key } })).json();
    }
    const result = await fetch(job.results.color.url);  // a signed URL, read by fetch
    const bytes = (await result.arrayBuffer()).byteLength;
    window.outcome = { status: answer.status, state: job.state, location, bytes };
  } catch (err) {
    window.outcome = { error: String(err) };
  }
}
</script></body></html>
"""


@contextmanager
def shop_origin(photo: Path, page: Callable[[], str] = lambda: SHOP_PAGE) -> Iterator[str]:
    """Serve ``page()`` at ``/`` and ``photo`` at ``/photo.png`` on a free port of
    127.0.0.1; yields the origin (``http://127.0.0.1:<port>``)."""
    body = {"/": (b"", "text/html"), "/photo.png": (photo.read_bytes(), "image/png")}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            content, kind = body.get(self.path.split("?")[0], (b"not here", "text/plain"))
            if self.path == "/":
                content = page().encode()
            self.send_response(200 if self.path.split("?")[0] in body else 404)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, format: str, *args: object) -> None:
            return  # quiet: pytest shows failures, not access logs

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
