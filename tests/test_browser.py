"""CORS in a real headless Chromium against ``cutout up``: a shop's page on a second
origin submits and polls with its publishable key; a third origin is refused. (The page
itself is tested in tests/test_page.py.)"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, sync_playwright

from cutout.backends import open_backends
from cutout.keys import KeyKind, key_pepper
from cutout.settings import Settings
from tests.conftest import FIXTURES
from tests.support.keys import add_key
from tests.support.pipeline import Pipeline
from tests.support.shop import shop_origin

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


# ---- CORS: a shop's page on another origin (ingest/cors.py) ---------------------------


def test_a_shop_page_on_its_own_origin_submits_and_polls_with_its_publishable_key(
    browser: Browser, pipeline: Pipeline
) -> None:
    """A second origin, whose publishable key is bound to it, submits a photo with
    fetch() and polls it to done; a third origin using the same key is refused by the
    browser (its preflight gets no grant) and by the server (403 origin_not_allowed)."""
    photo = FIXTURES / "chelsea.png"
    with shop_origin(photo) as shop, shop_origin(photo) as stranger:
        settings = Settings(data_dir=pipeline.data)
        key = add_key(
            open_backends(settings).keys,
            key_pepper(settings),
            KeyKind.PUBLISHABLE,
            allowed_origins=(shop,),
        )
        done = _shop_outcome(browser, shop, pipeline.url, key)
        assert done.get("status") == 202 and done.get("state") == "done", done
        assert done["location"].startswith("/v1/jobs/")  # an exposed header
        assert done["bytes"] > 1000  # the result itself, read cross-origin

        refused = _shop_outcome(browser, stranger, pipeline.url, key)
        assert "Failed to fetch" in refused.get("error", ""), refused
        answer = requests.post(
            f"{pipeline.url}/v1/jobs",
            headers={"Origin": stranger, "X-Api-Key": key},
            files={"file": ("pet.png", photo.read_bytes(), "image/png")},
            timeout=30,
        )
        assert answer.status_code == 403
        assert answer.json()["error"]["code"] == "origin_not_allowed"
        assert "Access-Control-Allow-Origin" not in answer.headers


def _shop_outcome(browser: Browser, origin: str, api: str, key: str) -> dict[str, Any]:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(origin + "/")
        page.evaluate("([api, key]) => submitPhoto(api, key)", [api, key])
        page.wait_for_function("window.outcome !== null", timeout=180_000)
        outcome: dict[str, Any] = page.evaluate("window.outcome")
    finally:
        context.close()
    return outcome
