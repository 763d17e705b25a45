// cutout.js against a running `cutout up` (CUTOUT_URL; tests/test_js_client.py starts
// one and runs this file with `node --test`). Node has fetch but no XMLHttpRequest, so
// these exercise the fetch path; upload progress through XMLHttpRequest is tested in
// Chromium (tests/test_page.py).
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";

import { Cutout, CutoutError, resultFilename } from "../cutout.js";

const BASE = process.env.CUTOUT_URL;
const FIXTURES = new URL("../../tests/fixtures/", import.meta.url);
assert.ok(BASE, "set CUTOUT_URL to a running cutout up");

const photo = async (name = "chelsea.png", type = "image/png") =>
  new File([await readFile(new URL(name, FIXTURES))], name, { type });

/** Run `body` with fetch wrapped: every call is recorded; `fail(url, init)` may throw. */
async function withFetchSpy(body, fail = () => {}) {
  const real = globalThis.fetch;
  const calls = [];
  globalThis.fetch = async (url, init = {}) => {
    calls.push({ url: String(url), method: init.method || "GET", at: Date.now() });
    fail(String(url), init, calls);
    return real(url, init);
  };
  try {
    return await body(calls);
  } finally {
    globalThis.fetch = real;
  }
}

test("warm asks for a worker and never throws", async () => {
  assert.equal(typeof (await new Cutout({ baseUrl: BASE }).warm()).autoscale, "boolean");
  assert.deepEqual(await new Cutout({ baseUrl: "http://127.0.0.1:9" }).warm(), { autoscale: false, error: "network" });
});

test("submit and poll: results arrive through onResult, polling honours Retry-After", async () => {
  const cutout = new Cutout({ baseUrl: BASE });
  const progress = [];
  await withFetchSpy(async (calls) => {
    const job = await cutout.submit(await photo(), { effects: ["color", "blackwhite"], params: { blackwhite: { grain: 0.1 } } },
      { onProgress: (p) => progress.push(p) });
    assert.ok(["queued", "running", "done"].includes(job.state));
    const seen = [];
    const shownFirst = [];
    const done = await cutout.poll(job, {
      onResult: (name, result) => {
        if (!result.full) shownFirst.push(name);  // the display rendition, before the full one
        else seen.push([name, result.full.width, Boolean(result.display)]);
      },
    });
    assert.equal(done.state, "done");
    assert.deepEqual(seen.sort(), [["blackwhite", 451, true], ["color", 451, true]]);
    assert.equal(done.model.fallback, true);
    assert.equal(done.cache_hit, false);
    assert.equal(typeof done.worker.warm, "boolean");
    const preview = await fetch(done.preview.url);
    assert.equal(preview.headers.get("content-type"), "image/jpeg");
    assert.equal(done.preview.width, 451);
    // The same photo and request again: answered from the cache, and it says so.
    const again = await cutout.submit(await photo(), { effects: ["color", "blackwhite"], params: { blackwhite: { grain: 0.1 } } });
    assert.equal(again.state, "done");
    assert.equal(again.cache_hit, true);
    const polls = calls.filter((c) => c.url.includes(`/v1/jobs/${job.id}`)).map((c) => c.at);
    for (let i = 1; i < polls.length; i += 1) assert.ok(polls[i] - polls[i - 1] >= 900, "Retry-After: 1 is honoured");
  });
  assert.equal(progress.at(-1).loaded, progress.at(-1).total);
});

test("a photo above the threshold goes through a direct upload", async () => {
  const cutout = new Cutout({ baseUrl: BASE, directUploadAbove: 1000 });
  await withFetchSpy(async (calls) => {
    const job = await cutout.submit(await photo(), { effects: ["color"], format: "webp" });
    assert.deepEqual(calls.map((c) => `${c.method} ${new URL(c.url).pathname.split("/").slice(0, 3).join("/")}`),
      ["POST /v1/uploads", "PUT /v1/blobs", "POST /v1/jobs"]);
    const done = await cutout.poll(job);
    assert.equal(done.results.color.format, "webp");
  });
});

test("an interrupted upload is tried again, with a fresh upload URL", async () => {
  const cutout = new Cutout({ baseUrl: BASE, directUploadAbove: 1000, retryDelayMs: 10 });
  await withFetchSpy(async (calls) => {
    const job = await cutout.submit(await photo("coffee.png"), { effects: ["color"] });
    assert.equal(calls.filter((c) => c.url.includes("/v1/uploads")).length, 2);
    assert.equal((await cutout.poll(job)).state, "done");
  }, (url, init, calls) => {
    if (init.method === "PUT" && calls.filter((c) => c.method === "PUT").length === 1) {
      throw new TypeError("network connection lost");
    }
  });
});

test("retries are bounded", async () => {
  const cutout = new Cutout({ baseUrl: BASE, directUploadAbove: 1000, retries: 2, retryDelayMs: 1 });
  await withFetchSpy(async (calls) => {
    await assert.rejects(cutout.submit(await photo(), { effects: ["color"] }), { code: "network" });
    assert.equal(calls.filter((c) => c.method === "PUT").length, 3);
  }, (url, init) => { if (init.method === "PUT") throw new TypeError("offline"); });
});

test("size and type are checked before anything is sent", async () => {
  const cutout = new Cutout({ baseUrl: BASE, maxBytes: 100 });
  await withFetchSpy(async (calls) => {
    await assert.rejects(cutout.submit(new File([], "a.jpg", { type: "image/jpeg" })), { code: "empty_file" });
    await assert.rejects(cutout.submit(await photo()), { code: "too_large", status: 413 });
    await assert.rejects(cutout.submit(new File(["x"], "notes.txt", { type: "text/plain" })), { code: "unsupported_format" });
    assert.equal(calls.length, 0);
  });
  // A file without a type is judged by its name (HEIC often comes without one).
  assert.doesNotThrow(() => new Cutout().check(new File(["x"], "IMG_0001.HEIC")));
});

test("the API's errors arrive as CutoutError with its code and status", async () => {
  const cutout = new Cutout({ baseUrl: BASE });
  const notAPhoto = new File(["this is not a photo"], "fake.jpg", { type: "image/jpeg" });
  await assert.rejects(cutout.submit(notAPhoto, { effects: ["color"] }), (err) =>
    err instanceof CutoutError && err.code === "unsupported_format" && err.status === 415);
  await assert.rejects(cutout.submit(await photo(), { effects: ["sparkle"] }), { code: "unknown_effect", status: 400 });
  await assert.rejects(cutout.poll({ id: "0".repeat(32), state: "queued" }), { code: "job_not_found", status: 404 });
  await assert.rejects(new Cutout({ baseUrl: BASE, key: "pk_live_nope" }).submit(await photo()), { code: "invalid_api_key", status: 401 });
});

test("a failed job rejects with its code and the job", async () => {
  const cutout = new Cutout({ baseUrl: BASE });
  const failed = { id: "x", state: "failed", error: { code: "image_corrupt", message: "bad pixels" } };
  await assert.rejects(cutout.poll(failed), (err) => err.code === "image_corrupt" && err.job === failed);
});

test("cancel: an aborted signal stops polling at once", async () => {
  const cutout = new Cutout({ baseUrl: BASE });
  const controller = new AbortController();
  const pending = cutout.poll({ id: "0".repeat(32), state: "queued" }, { signal: controller.signal });
  controller.abort();
  await assert.rejects(pending, { code: "aborted" });
  await assert.rejects(cutout.submit(await photo(), {}, { signal: AbortSignal.abort() }), { code: "aborted" });
});

test("result file names are sensible", () => {
  assert.equal(resultFilename("IMG 0001.HEIC", "color", "webp"), "IMG_0001-color.webp");
  assert.equal(resultFilename(undefined, "blackwhite", "jpeg"), "photo-blackwhite.jpg");
});
