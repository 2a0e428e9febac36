"""Debian's Chromium driven by playwright, one way for every browser test (never `playwright
install`: the suite uses the system's chromium, which .ci/run installs)."""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless browser, closed afterwards; a missing chromium fails the test (never a skip)."""
    assert shutil.which(CHROMIUM), "Debian's chromium is needed for the browser tests (.ci/run installs it)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()
