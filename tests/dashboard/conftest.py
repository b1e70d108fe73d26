"""A real browser for the dashboard tests: Debian's chromium, driven by Playwright for Python.

Never `playwright install` (it downloads a browser): `.ci/run` installs Debian's `chromium`, and
a machine without it fails these tests rather than skipping them. One browser per module.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path(os.environ.get("EMULATORS_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LAPTOP = {"width": 1366, "height": 768}


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One persistent context (a fresh user-data dir) for the module; tests open pages in it."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: the dashboard tests need Debian's chromium "
                    "(apt-get install chromium; .ci/run installs it)", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path_factory.mktemp("chromium-profile"), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_ARGS, viewport=LAPTOP)
        context.set_default_timeout(10_000)
        yield context
        context.close()


class Page:
    """A browser tab on the dashboard that records every request it makes and every uncaught
    script error, and lets no request leave 127.0.0.1."""

    def __init__(self, browser: Any) -> None:
        self.tab = browser.new_page()
        self.requests: list[Any] = []
        self.outside: list[str] = []
        self.errors: list[str] = []
        self.tab.on("request", lambda request: self.requests.append(request))
        self.tab.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.tab.route("**/*", self._guard)

    def _guard(self, route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.fallback()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def open(self, base_url: str, fragment: str = "") -> Any:
        self.tab.goto(base_url + "/_emulator/ui" + fragment)
        from playwright.sync_api import expect

        expect(self.tab.locator("#status")).to_contain_text("updated")  # one whole poll done
        return self.tab


@pytest.fixture
def dashboard(browser: Any) -> Iterator[Page]:
    page = Page(browser)
    yield page
    page.tab.close()
    assert not page.outside, f"the page reached outside 127.0.0.1: {page.outside}"
    assert not page.errors, f"script errors: {page.errors}"
