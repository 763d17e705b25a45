"""The web page in a real headless Chromium against ``cutout up``: choose a photo (which
warms a worker), upload, and see the result appear; a bad file shows its error code."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import FIXTURES
from tests.support.pipeline import Pipeline

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install-system-deps.sh (make test does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, pipeline: Pipeline) -> Iterator[Page]:
    context = browser.new_context()
    page = context.new_page()
    page.goto(pipeline.url)
    page.wait_for_selector("#effects input[value=color]:checked")
    yield page
    context.close()


def test_upload_a_photo_and_see_the_cutout(page: Page, pipeline: Pipeline, tmp_path: Path) -> None:
    with page.expect_request(lambda r: r.url.endswith("/v1/warm") and r.method == "POST"):
        page.click("#file")  # choosing a photo warms a worker
    page.set_input_files("#file", str(FIXTURES / "chelsea.png"))
    page.click("#submit")
    image = page.wait_for_selector("figure[data-effect=color] img", timeout=180_000)
    assert image is not None
    page.wait_for_function(
        "document.querySelector('figure[data-effect=color] img').naturalWidth > 0"
    )
    assert page.eval_on_selector("figure[data-effect=color] img", "i => i.naturalWidth") == 451
    page.wait_for_function("document.getElementById('status').textContent.startsWith('done')")
    assert "451x300" in page.inner_text("figure[data-effect=color] figcaption")
    shown = page.eval_on_selector("figure[data-effect=color] img", "i => i.src")
    full = page.eval_on_selector("figure[data-effect=color] a[download]", "a => a.href")
    assert ".webp" in shown and ".png" in full  # the display one shown, the full one offered
    page.screenshot(path=str(tmp_path / "page.png"))


def test_a_bad_file_shows_its_error(page: Page, tmp_path: Path) -> None:
    not_a_photo = tmp_path / "notes.jpg"
    not_a_photo.write_text("this is not a photo")
    page.set_input_files("#file", str(not_a_photo))
    page.click("#submit")
    page.wait_for_function("document.getElementById('status').className === 'error'")
    assert "unsupported_format" in page.inner_text("#status")
    assert not page.is_disabled("#submit")
