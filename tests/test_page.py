"""The page (ingest/static/index.html, built on cutout.js) in real headless Chromium
against one ``cutout up`` shared by the module (fallback segmenter: no weights), at a
phone viewport with touch and at a desktop viewport: effects with parameters and a
background image, upload progress, results shown before the job is done, downloads,
direct upload of a large photo, warm on intent once per window (Playwright's clock),
error codes triggered live, axe-core, a keyboard-only flow, and the README's shop
snippet on another origin with a publishable key.

Screenshots go to ``tmp_path``, or to ``$PAGE_SCREENSHOTS`` when set (how docs/ is
refreshed: ``PAGE_SCREENSHOTS=docs pytest tests/test_page.py``)."""

from __future__ import annotations

import io
import os
import re
import shutil
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from cutout.backends import open_backends
from cutout.keys import KeyKind, key_pepper
from cutout.settings import Settings
from tests.conftest import FIXTURES
from tests.support.keys import add_key
from tests.support.node import npm_package
from tests.support.pipeline import Pipeline, run_pipeline
from tests.support.shop import shop_origin

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
README = Path(__file__).resolve().parents[1] / "README.md"
VIEWPORTS = ["phone", "desktop"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    yield from run_pipeline(tmp_path_factory.mktemp("page"))


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install-system-deps.sh (make test does)")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
    yield browser
    browser.close()


def new_context(browser: Browser, playwright: Playwright, viewport: str) -> BrowserContext:
    if viewport == "phone":
        return browser.new_context(**playwright.devices["Pixel 7"], accept_downloads=True)
    return browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True)


def open_page(context: BrowserContext, stack: Pipeline, arm_file_chooser: bool = False) -> Page:
    """Open the page; `arm_file_chooser` turns Chromium's file-chooser interception on before
    the page loads, since arming it at the key press races the press (puppeteer#6040)."""
    page = context.new_page()
    if arm_file_chooser:
        page.on("filechooser", lambda chooser: None)
    page.goto(stack.url)
    page.wait_for_selector("form[data-ready=true]")
    return page


@pytest.fixture(params=VIEWPORTS)
def viewport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def page(
    browser: Browser, playwright: Playwright, stack: Pipeline, viewport: str
) -> Iterator[Page]:
    context = new_context(browser, playwright, viewport)
    yield open_page(context, stack)
    context.close()


def screenshot(page: Page, name: str, tmp_path: Path) -> None:
    folder = Path(os.environ.get("PAGE_SCREENSHOTS") or tmp_path)
    page.screenshot(path=str(folder / name), full_page=True)


def set_value(page: Page, selector: str, value: str) -> None:
    """Set a control as a user would (a range cannot be typed into): value, then events."""
    page.eval_on_selector(
        selector,
        "(el, v) => { el.value = v; el.dispatchEvent(new Event('input', {bubbles: true}));"
        " el.dispatchEvent(new Event('change', {bubbles: true})); }",
        value,
    )


def record_partials(page: Page) -> None:
    """Note, each time a result appears, what is shown: the cards in order and the status."""
    page.evaluate(
        """() => { window.partials = [];
        new MutationObserver(() => {
          const ready = document.querySelectorAll('#results figure.ready').length;
          const pending = document.querySelectorAll('#results figure.pending').length;
          const order = [...document.querySelectorAll('#results figure')].map(f => f.className);
          const status = document.getElementById('status').textContent;
          window.partials.push({ready, pending, order, status});
        }).observe(document.getElementById('results'), {childList: true, subtree: true}); }"""
    )


def hold_back_all_but_one_result(page: Page) -> None:
    """Results are written one by one, but on this fast machine they may all land within
    one poll: the first poll answer with two or more results is passed on (real, from
    ingest) with only its first result and as ``running``, as it would have been a moment
    earlier. The next polls are untouched."""
    trimmed = []

    def handle(route: Any) -> None:
        try:
            answer = route.fetch()
            job = answer.json()
        except Exception:
            route.fallback()
            return
        names = [*job.get("displays", {}), *job.get("results", {})]
        if trimmed or len(set(names)) < 2:
            route.fulfill(response=answer)
            return
        first = names[0]
        job.update(
            state="running",
            results={k: v for k, v in job["results"].items() if k == first},
            displays={k: v for k, v in job.get("displays", {}).items() if k == first},
        )
        trimmed.append(first)
        headers = {k: v for k, v in answer.headers.items() if k.lower() != "content-length"}
        route.fulfill(response=answer, json=job, headers=headers)

    page.route("**/v1/jobs/*", handle)


def wait_done(page: Page) -> str:
    page.wait_for_function(
        "/^(Done|.*\\(\\w+\\)$)/.test(document.getElementById('status').textContent)",
        timeout=240_000,
    )
    return page.inner_text("#status")


def big_photo(tmp_path: Path) -> Path:
    """A 1800 x 1200 photo of over 4 MiB (the direct-upload threshold): chelsea, scaled
    up, with sensor-like noise so the PNG does not shrink."""
    image = Image.open(FIXTURES / "chelsea.png").convert("RGB").resize((1800, 1200))
    pixels = np.asarray(image, dtype=np.int16)
    noise = np.random.default_rng(7).integers(-24, 24, pixels.shape, dtype=np.int16)
    path = tmp_path / "big-cat.png"
    Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8)).save(path)
    assert path.stat().st_size > 4 * 1024 * 1024
    return path


# ---- the happy paths --------------------------------------------------------------------


def test_effects_with_parameters_and_a_background_image_then_download(
    page: Page, viewport: str, stack: Pipeline, tmp_path: Path
) -> None:
    page.set_input_files("#file", str(FIXTURES / "chelsea.png"))
    page.wait_for_function("document.getElementById('chosen').textContent.includes('chelsea')")
    page.check("#effects input[value=blackwhite]")
    grain = {"phone": "0.8", "desktop": "0.7"}[viewport]  # no cache hit from the other run
    set_value(page, "#p-blackwhite-grain", grain)
    page.check("#effects input[value=background]")
    page.set_input_files("#p-background-image", str(FIXTURES / "coffee.png"))
    assert page.input_value("#p-background-mode") == "image"
    page.check("#effects input[value=crop]")
    page.select_option("#p-crop-aspect", "4:5")
    with page.expect_response(lambda r: r.url.endswith("/v1/jobs")) as answer:
        page.click("#submit")
    asked = {e["name"]: e["params"] for e in answer.value.json()["effects"]}
    assert asked["blackwhite"]["grain"] == float(grain)
    assert asked["crop"]["aspect"] == "4:5"
    assert asked["background"]["mode"] == "image" and asked["background"]["image"]
    status = wait_done(page)
    assert status.startswith("Done"), status
    assert page.inner_text("#progress-label") == "Uploading… 100%"
    figures = page.query_selector_all("#results figure.ready")
    assert {f.get_attribute("data-effect") for f in figures} == {
        "color",
        "blackwhite",
        "background",
        "crop",
    }
    crop = page.eval_on_selector(
        "figure[data-effect=crop] img.after",
        "i => i.naturalWidth / i.naturalHeight",
    )
    assert abs(crop - 0.8) < 0.02  # the crop's 4:5 aspect
    assert "weights-free fallback" in page.inner_text("figure[data-effect=color] .made-by")
    assert "weights-free fallback" in page.inner_text("#notice")
    page.wait_for_function(
        "[...document.querySelectorAll('img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    screenshot(page, f"page-{viewport}-done.png", tmp_path)

    with page.expect_download() as saved:
        page.click("figure[data-effect=blackwhite] button.download")
    download = saved.value
    assert download.suggested_filename == "chelsea-blackwhite.png"
    url = page.get_attribute("figure[data-effect=blackwhite] button.download", "data-url")
    shown = page.eval_on_selector("figure[data-effect=blackwhite] img.after", "i => i.src")
    assert ".webp" in shown and ".png" in url  # the display one shown, the full one saved
    assert Path(download.path()).read_bytes() == requests.get(url, timeout=30).content

    # The same photo and settings again: the cache answers, and the page says so.
    page.click("#submit")
    page.wait_for_function("document.getElementById('status').textContent.includes('cache')")


@pytest.mark.parametrize("viewport", ["phone"])  # phones send the big photos
def test_a_large_photo_goes_direct_with_progress_and_results_before_done(
    page: Page, viewport: str, tmp_path: Path
) -> None:
    photo = big_photo(tmp_path)
    page.set_input_files("#file", str(photo))
    for effect in ("blackwhite", "halftone"):
        page.check(f"#effects input[value={effect}]")
    requests_seen: list[str] = []
    page.on("request", lambda r: requests_seen.append(f"{r.method} {r.url}"))
    progress: list[float] = []
    page.expose_function("noteProgress", lambda v: progress.append(float(v)))
    page.evaluate(
        "() => new MutationObserver(() => noteProgress(document.getElementById('progress').value))"
        ".observe(document.getElementById('progress-label'), {childList: true})"
    )
    record_partials(page)
    hold_back_all_but_one_result(page)
    # A phone's uplink: 4 Mbit/s, so the upload takes a while and progress moves.
    cdp = page.context.new_cdp_session(page)
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 500_000},
    )
    page.evaluate(
        """() => document.getElementById('status').addEventListener('focus', e => {
          window.statusFocus = {top: e.target.getBoundingClientRect().top, height: innerHeight};
        }, {once: true})"""
    )
    page.click("#submit")
    page.wait_for_selector("#results figure.ready", timeout=240_000)
    screenshot(page, f"page-{viewport}-running.png", tmp_path)
    assert wait_done(page).startswith("Done")
    assert any("POST" in r and "/v1/uploads" in r for r in requests_seen), requests_seen
    assert any(r.startswith("PUT ") and "/v1/blobs/" in r for r in requests_seen), requests_seen
    assert progress and progress[-1] == 1.0 and min(progress) < 1.0, progress
    partials = page.evaluate("window.partials")
    assert any(p["ready"] >= 1 and p["pending"] >= 1 for p in partials), partials
    for shown in (p for p in partials if p["pending"] and " of " in p["status"]):
        # The count says what is on screen, and no waiting card sits above a ready one.
        assert int(shown["status"].split(" of ")[0]) == shown["ready"], shown
        assert "pending" not in shown["order"][: shown["ready"]], shown
    # Pressing Remove background brought the status (below the long form) into view, focused.
    focus = page.evaluate("window.statusFocus")
    assert focus and 0 <= focus["top"] < focus["height"] / 2, focus


# ---- warm on intent ---------------------------------------------------------------------


def test_sliders_start_at_their_schema_defaults(page: Page) -> None:
    shown = page.evaluate(
        """async () => (await (await fetch('/v1/effects')).json()).effects.flatMap(e =>
          Object.entries(e.params.properties || {}).map(([name, schema]) => {
            const input = document.getElementById(`p-${e.name}-${name}`);
            return input && input.type === 'range'
              ? {id: input.id, default: schema.default, value: Number(input.value),
                 output: input.parentElement.querySelector('output').value} : null;
          }).filter(Boolean))"""
    )
    assert len(shown) >= 8, shown
    for slider in shown:
        assert slider["value"] == slider["default"], slider
        assert float(slider["output"]) == slider["default"], slider


def test_warm_is_called_once_per_window(
    browser: Browser, playwright: Playwright, stack: Pipeline
) -> None:
    context = new_context(browser, playwright, "desktop")
    try:
        page = context.new_page()
        page.clock.install()
        warms: list[str] = []
        page.on("request", lambda r: warms.append(r.url) if r.url.endswith("/v1/warm") else None)
        page.goto(stack.url)
        page.wait_for_selector("form[data-ready=true]")
        assert warms == []  # no intent yet, no warm-up
        window_ms = page.evaluate("window.cutoutPage.WARM_WINDOW_MS")
        for _ in range(3):
            page.focus("#drop")
            page.focus("#format")
        page.dispatch_event("#file", "click")
        assert page.evaluate("window.cutoutPage.warmCalls") == 1
        page.clock.fast_forward(window_ms - 1000)
        page.focus("#drop")
        assert page.evaluate("window.cutoutPage.warmCalls") == 1
        page.clock.fast_forward(2000)
        page.focus("#format")
        page.focus("#drop")
        assert page.evaluate("window.cutoutPage.warmCalls") == 2
        page.wait_for_function("true")
        assert len(warms) == 2, warms
    finally:
        context.close()


# ---- errors -----------------------------------------------------------------------------


def truncated_png() -> bytes:
    data = io.BytesIO()
    Image.open(FIXTURES / "chelsea.png").save(data, format="PNG")
    return data.getvalue()[: len(data.getvalue()) // 2]


def bomb_png() -> bytes:
    """A 20000 x 20000 PNG header (400 MP) in a few dozen bytes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 1000)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def test_five_error_codes_are_shown_with_their_messages(page: Page, tmp_path: Path) -> None:
    messages = page.evaluate("JSON.parse(document.getElementById('messages').textContent)")
    cases: list[tuple[str, bytes, str, dict[str, str]]] = [
        ("notes.jpg", b"this is not a photo", "unsupported_format", {}),
        ("half.png", truncated_png(), "image_truncated", {}),
        ("bomb.png", bomb_png(), "decompression_bomb", {}),
        ("empty.jpg", b"", "empty_file", {}),
        (
            "cat.png",
            (FIXTURES / "chelsea.png").read_bytes(),
            "invalid_params",
            {"size": "5"},
        ),
    ]
    for name, data, code, fields in cases:
        path = tmp_path / name
        path.write_bytes(data)
        page.set_input_files("#file", str(path))
        if code == "empty_file":  # refused by cutout.js before any upload
            page.wait_for_function("document.getElementById('status').className === 'error'")
        else:
            page.wait_for_function(
                "n => document.getElementById('chosen').textContent.includes(n)", arg=name
            )
            if fields:
                page.check("#effects input[value=crop]")
                page.fill("#p-crop-size", fields["size"])
            page.click("#submit")
            page.wait_for_function(
                "c => document.getElementById('status').textContent.endsWith(`(${c})`)", arg=code
            )
        status = page.inner_text("#status")
        assert status == f"{messages[code]} ({code})", status
        assert page.get_attribute("#status", "class") == "error"
        assert not page.is_disabled("#submit")
        page.evaluate(
            "() => { const s = document.getElementById('status');"
            " s.textContent = ''; s.className = ''; }"
        )
        if fields:
            page.fill("#p-crop-size", "")
            page.uncheck("#effects input[value=crop]")


# ---- accessibility ----------------------------------------------------------------------


def test_axe_finds_no_serious_or_critical_violations(page: Page, viewport: str) -> None:
    page.set_input_files("#file", str(FIXTURES / "chelsea.png"))
    page.click("#submit")
    assert wait_done(page).startswith("Done")
    page.add_script_tag(path=str(npm_package("axe-core") / "axe.min.js"))
    violations: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document)).violations"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target)}))"
    )
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert bad == [], bad


def test_keyboard_only_upload_and_download(
    browser: Browser, playwright: Playwright, stack: Pipeline
) -> None:
    context = new_context(browser, playwright, "desktop")
    try:
        page = open_page(context, stack, arm_file_chooser=True)
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "drop"
        with page.expect_file_chooser() as chooser:
            page.keyboard.press("Enter")
        chooser.value.set_files(str(FIXTURES / "chelsea.png"))
        page.wait_for_function("document.getElementById('chosen').textContent.includes('chelsea')")
        for _ in range(80):
            if page.evaluate("document.activeElement.id") == "submit":
                break
            page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "submit"
        page.keyboard.press("Enter")
        assert wait_done(page).startswith("Done")
        # Focus moves to the first download when the job is done.
        assert page.evaluate("document.activeElement.className") == "download"
        with page.expect_download() as saved:
            page.keyboard.press("Enter")
        assert saved.value.suggested_filename == "chelsea-color.png"
        assert Path(saved.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        context.close()


# ---- the README's shop snippet on another origin ------------------------------------------


def readme_snippet() -> str:
    section = README.read_text().split("## Use it from your shop", 1)[1]
    match = re.search(r"```html\n(.*?)```", section, re.DOTALL)
    assert match, "the README's shop section has an html block"
    return match.group(1)


def wait_until_the_origin_is_known(api: str, origin: str) -> None:
    """Ingest learns a new key's origin within CUTOUT_KEY_CACHE_S (5 s)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        preflight = requests.options(
            f"{api}/v1/jobs",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
            timeout=10,
        )
        if preflight.headers.get("Access-Control-Allow-Origin") == origin:
            return
        time.sleep(0.5)
    raise AssertionError(f"ingest never granted {origin}")


def test_the_readme_snippet_works_from_a_shop_origin_with_a_publishable_key(
    browser: Browser, stack: Pipeline
) -> None:
    lines = readme_snippet().strip().splitlines()
    assert len(lines) <= 12, lines
    photo = FIXTURES / "chelsea.png"
    served = {"page": ""}
    with shop_origin(photo, page=lambda: served["page"]) as origin:
        settings = Settings(data_dir=stack.data)
        key = add_key(
            open_backends(settings).keys,
            key_pepper(settings),
            KeyKind.PUBLISHABLE,
            allowed_origins=(origin,),
        )
        wait_until_the_origin_is_known(stack.url, origin)
        snippet = "\n".join(lines).replace("https://cutout.example", stack.url)
        served["page"] = snippet.replace("pk_live_…", key)
        context = browser.new_context()
        try:
            page = context.new_page()
            said: list[str] = []
            page.on("console", lambda m: said.append(m.text))
            page.on("pageerror", lambda e: said.append(str(e)))
            page.goto(origin + "/")
            page.set_input_files("#photo", str(photo))
            try:
                page.wait_for_function(
                    "document.getElementById('cutout').naturalWidth === 451", timeout=120_000
                )
            except Exception as exc:
                raise AssertionError(said) from exc
        finally:
            context.close()
