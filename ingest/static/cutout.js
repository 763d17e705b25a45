// cutout.js: the browser (and Node) client of the cutout API, version 1.
//
// A dependency-free ES module, served by ingest at /v1/cutout.js and kept in the repo
// as clients/cutout.js (types: clients/cutout.d.ts). It works from another origin with
// a publishable key (sent as `Authorization: Bearer pk_…`; the key is bound to the
// page's origin by the service).
//
//   import { Cutout } from "https://cutout.example/v1/cutout.js";
//   const cutout = new Cutout({ baseUrl: "https://cutout.example", key: "pk_live_…" });
//   const job = await cutout.submit(file, { effects: ["color"] }, { onProgress });
//   const done = await cutout.poll(job, { onResult: (name, result) => show(result) });
//
// Guarantees: the size and type are checked before any byte is sent; photos above
// `directUploadAbove` go straight to storage (POST /v1/uploads, then PUT with the headers
// the answer names); an upload interrupted by the network is retried (at most `retries`
// times, with a fresh upload URL each time: they are single-use); polling waits as long
// as `Retry-After` says and stops on `done` or `failed`; every failure is a CutoutError
// carrying the API's code; an AbortSignal cancels uploads and polling alike.

export const API_VERSION = "1";
export const DEFAULT_MAX_BYTES = 50 * 1000 * 1000;
export const DEFAULT_DIRECT_UPLOAD_ABOVE = 4 * 1024 * 1024;
export const DEFAULT_RETRIES = 3;
const MAX_POLL_WAIT_S = 30;

/** The image types the service accepts (cutout/imaging.py), by MIME type and extension. */
export const ACCEPTED_TYPES = Object.freeze([
  "image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp", "image/tiff",
  "image/heic", "image/heif", "image/heic-sequence", "image/heif-sequence",
]);
const ACCEPTED_EXTENSIONS = ["jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff", "heic", "heif"];

/** An error with the API's machine-readable code (see the OpenAPI document's ErrorCode),
 * or one of the client's own: `network`, `aborted`, `bad_response`. */
export class CutoutError extends Error {
  constructor(code, message, { status = 0, retryAfter = null, job = null } = {}) {
    super(message);
    this.name = "CutoutError";
    this.code = code;
    this.status = status;
    this.retryAfter = retryAfter;
    this.job = job;
  }

  /** Whether trying again later can help (the network, a busy or overloaded service). */
  get transient() {
    return this.code === "network" || this.status === 429 || this.status >= 500;
  }
}

export class Cutout {
  constructor({
    baseUrl = "",
    key = null,
    maxBytes = DEFAULT_MAX_BYTES,
    directUploadAbove = DEFAULT_DIRECT_UPLOAD_ABOVE,
    retries = DEFAULT_RETRIES,
    retryDelayMs = 500,
  } = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.key = key;
    this.maxBytes = maxBytes;
    this.directUploadAbove = directUploadAbove;
    this.retries = retries;
    this.retryDelayMs = retryDelayMs;
  }

  /** Have a worker starting while the user is still choosing a photo. Never throws. */
  async warm({ signal } = {}) {
    try {
      const answer = await this._fetch("/v1/warm", { method: "POST", signal });
      return await answer.json();
    } catch (err) {
      if (err instanceof CutoutError && err.code === "aborted") throw err;
      return { autoscale: false, error: err.code || "network" };
    }
  }

  /** The effect catalogue (each parameter's JSON schema) and the output formats. */
  async effects({ signal } = {}) {
    return (await this._fetch("/v1/effects", { signal })).json();
  }

  /** Refuse what the service would refuse, before uploading: an empty or too large
   * file, or a type that is not a photo. Throws a CutoutError. */
  check(file) {
    if (!file || file.size === 0) throw new CutoutError("empty_file", "the file is empty");
    if (file.size > this.maxBytes) {
      throw new CutoutError(
        "too_large", `the file has ${file.size} bytes; the limit is ${this.maxBytes}`, { status: 413 });
    }
    const type = (file.type || "").toLowerCase();
    const extension = (file.name || "").split(".").pop().toLowerCase();
    const known = type ? ACCEPTED_TYPES.includes(type) : ACCEPTED_EXTENSIONS.includes(extension);
    if (!known) {
      throw new CutoutError(
        "unsupported_format", `${file.name || "the file"} (${type || "no type"}) is not a photo we read`,
        { status: 415 });
    }
  }

  /** Upload a photo and create its job; resolves with the job's JSON (a 200 with every
   * result when all were cached, else 202 and pending). `options.background` is a second
   * image for the background effect (mode `image`). */
  async submit(file, options = {}, { onProgress, signal, idempotencyKey } = {}) {
    this.check(file);
    const { effects = [], params = {}, format, priority, background } = options;
    if (background) this.check(background);
    const form = new FormData();
    for (const name of effects) form.append("effects", name);
    if (Object.keys(params).length) form.append("params", JSON.stringify(params));
    if (format) form.append("format", format);
    if (priority) form.append("priority", priority);
    if (background) form.append("background", background, background.name || "background");
    const report = (phase) => (loaded, total) => onProgress && onProgress({ phase, loaded, total });
    // A retried POST must not make a second job: every submit carries an idempotency key.
    const key = idempotencyKey || (globalThis.crypto && crypto.randomUUID ? crypto.randomUUID() : null);
    const headers = key ? { "Idempotency-Key": key } : {};
    if (file.size > this.directUploadAbove) {
      const uploadId = await this._retrying(() => this._directUpload(file, report("upload"), signal));
      form.append("upload_id", uploadId);
      return this._retrying(() => this._send("POST", "/v1/jobs", form, headers, report("submit"), signal));
    }
    form.append("file", file, file.name || "photo");
    return this._retrying(() => this._send("POST", "/v1/jobs", form, headers, report("upload"), signal));
  }

  /** Poll until the job is done or failed; `onResult(name, result, job)` is called once
   * per result as soon as its display rendition exists and again when the full one does
   * (`result.display`, `result.full`: null until written), `onEffectError(name, error, job)` once per failed
   * effect, `onUpdate(job)` on every answer. Resolves with the finished job; a failed job
   * rejects with a CutoutError carrying `job.error.code` (and `.job`). */
  async poll(job, { onResult, onEffectError, onUpdate, signal } = {}) {
    const seen = new Set();
    const path = `/v1/jobs/${encodeURIComponent(job.id)}`;
    let current = job;
    let waitS = 0;
    for (;;) {
      // A display rendition (small WebP) comes first, the full result after: onResult is
      // called for each, with the full one's fields once it exists and `display` set.
      const names = new Set([...Object.keys(current.displays || {}), ...Object.keys(current.results || {})]);
      for (const name of names) {
        const full = (current.results || {})[name];
        const display = (current.displays || {})[name] || null;
        const stage = full ? `${name}:full` : `${name}:display`;
        if (seen.has(stage)) continue;
        seen.add(stage);
        if (full) seen.add(`${name}:display`);
        onResult && onResult(name, { ...(full || display), display, full: full || null }, current);
      }
      for (const [name, error] of Object.entries(current.effect_errors || {})) {
        if (!seen.has(`${name}:error`)) { seen.add(`${name}:error`); onEffectError && onEffectError(name, error, current); }
      }
      if (current.state === "done") return current;
      if (current.state === "failed") {
        const error = current.error || { code: "error", message: "the job failed" };
        throw new CutoutError(error.code, error.message, { job: current });
      }
      await sleep(waitS * 1000, signal);
      try {
        const answer = await this._fetch(path, { signal });
        waitS = retryAfter(answer) ?? 1;
        current = await answer.json();
        onUpdate && onUpdate(current);
      } catch (err) {
        if (!(err instanceof CutoutError) || !err.transient) throw err;
        waitS = err.retryAfter ?? 2;
      }
    }
  }

  // -- internals -------------------------------------------------------------------------

  _headers(extra = {}) {
    return this.key ? { Authorization: `Bearer ${this.key}`, ...extra } : { ...extra };
  }

  async _fetch(path, { method = "GET", body, headers, signal } = {}) {
    let answer;
    try {
      answer = await fetch(this.baseUrl + path, { method, body, headers: this._headers(headers), signal });
    } catch (err) {
      if (signal && signal.aborted) throw new CutoutError("aborted", "cancelled");
      throw new CutoutError("network", `cannot reach ${this.baseUrl || "the service"}: ${err.message}`);
    }
    if (!answer.ok) throw await errorFrom(answer.status, () => answer.text(), (h) => answer.headers.get(h));
    return answer;
  }

  async _directUpload(file, onProgress, signal) {
    const type = file.type || "application/octet-stream";
    const query = `?content_type=${encodeURIComponent(type)}`;
    const offer = await (await this._fetch(`/v1/uploads${query}`, { method: "POST", signal })).json();
    await send(offer.method || "PUT", offer.url, file, offer.headers || {}, onProgress, signal);
    return offer.upload_id;
  }

  _send(method, path, body, headers, onProgress, signal) {
    return send(method, this.baseUrl + path, body, this._headers(headers), onProgress, signal);
  }

  /** Run `attempt` again after a network failure or a transient answer, at most
   * `this.retries` more times, waiting longer each time (or as Retry-After says). */
  async _retrying(attempt) {
    for (let tries = 0; ; tries += 1) {
      try {
        return await attempt();
      } catch (err) {
        if (!(err instanceof CutoutError) || !err.transient || tries >= this.retries) throw err;
        const waitMs = err.retryAfter != null ? err.retryAfter * 1000 : this.retryDelayMs * 2 ** tries;
        await sleep(Math.min(waitMs, MAX_POLL_WAIT_S * 1000));
      }
    }
  }
}

/** Send a body with upload progress: XMLHttpRequest where there is one (browsers), else
 * fetch (Node: progress is reported once, at the end). Resolves with the parsed JSON. */
function send(method, url, body, headers, onProgress, signal) {
  if (signal && signal.aborted) return Promise.reject(new CutoutError("aborted", "cancelled"));
  if (typeof XMLHttpRequest === "undefined") return sendWithFetch(method, url, body, headers, onProgress, signal);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => onProgress && onProgress(e.loaded, e.lengthComputable ? e.total : body.size);
    const onAbort = () => xhr.abort();
    if (signal) signal.addEventListener("abort", onAbort, { once: true });
    const settle = (fn, value) => { if (signal) signal.removeEventListener("abort", onAbort); fn(value); };
    xhr.onload = async () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try { settle(resolve, xhr.responseText ? JSON.parse(xhr.responseText) : {}); }
        catch { settle(reject, new CutoutError("bad_response", "the answer is not JSON", { status: xhr.status })); }
        return;
      }
      settle(reject, await errorFrom(xhr.status, async () => xhr.responseText, (h) => xhr.getResponseHeader(h)));
    };
    xhr.onerror = () => settle(reject, new CutoutError("network", "the upload was interrupted"));
    xhr.ontimeout = xhr.onerror;
    xhr.onabort = () => settle(reject, new CutoutError("aborted", "cancelled"));
    xhr.send(body);
  });
}

async function sendWithFetch(method, url, body, headers, onProgress, signal) {
  let answer;
  try {
    answer = await fetch(url, { method, body, headers, signal });
  } catch (err) {
    if (signal && signal.aborted) throw new CutoutError("aborted", "cancelled");
    throw new CutoutError("network", `the upload was interrupted: ${err.message}`);
  }
  if (!answer.ok) throw await errorFrom(answer.status, () => answer.text(), (h) => answer.headers.get(h));
  const size = body && body.size !== undefined ? body.size : 0;
  if (onProgress) onProgress(size, size);
  const text = await answer.text();
  return text ? JSON.parse(text) : {};
}

/** A CutoutError from an error answer: `{"error": {"code", "message"}}`, or remove.bg's
 * `{"errors": [{"code", "title"}]}`, or the bare status when the body is neither. */
async function errorFrom(status, readBody, header) {
  let code = status === 429 ? "rate_limited" : status >= 500 ? "error" : "invalid_input";
  let message = `HTTP ${status}`;
  try {
    const body = JSON.parse(await readBody());
    const error = body.error || (body.errors && body.errors[0]) || {};
    code = error.code || code;
    message = error.message || error.title || message;
  } catch { /* not JSON: keep the status */ }
  return new CutoutError(code, message, { status, retryAfter: retryAfterFrom(header("Retry-After")) });
}

function retryAfter(answer) {
  return retryAfterFrom(answer.headers.get("Retry-After"));
}

function retryAfterFrom(value) {
  if (value == null || value === "") return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.min(Math.max(seconds, 0), MAX_POLL_WAIT_S);
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.min(Math.max((at - Date.now()) / 1000, 0), MAX_POLL_WAIT_S);
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal && signal.aborted) { reject(new CutoutError("aborted", "cancelled")); return; }
    const timer = setTimeout(() => { if (signal) signal.removeEventListener("abort", onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(timer); reject(new CutoutError("aborted", "cancelled")); };
    if (signal) signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** Download a result (or any URL) as a file, cross-origin included: fetch, then a blob
 * URL on an `<a download>` (a plain `<a download>` is ignored for other origins). */
export async function download(url, filename, { signal } = {}) {
  let answer;
  try {
    answer = await fetch(url, { signal });
  } catch (err) {
    throw new CutoutError("network", `cannot download: ${err.message}`);
  }
  if (!answer.ok) throw await errorFrom(answer.status, () => answer.text(), (h) => answer.headers.get(h));
  const blob = await answer.blob();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = filename;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  return blob;
}

/** A sensible file name for a result: the photo's name, the effect, the format. */
export function resultFilename(photoName, effect, format) {
  const stem = (photoName || "photo").replace(/\.[^.]*$/, "").replace(/[^\w.-]+/g, "_") || "photo";
  const extension = { jpeg: "jpg", mask: "png" }[format] || format || "png";
  return `${stem}-${effect}.${extension}`;
}
