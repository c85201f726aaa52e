"""What the browser tests share: where Chromium is, how to launch it, where screenshots go.

Each test module calls `require_browser()` before importing Playwright: without
/usr/bin/chromium the module is skipped, or fails when KONVERGO_REQUIRE_BROWSER=1 (CI).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

# Playwright's sync API runs an event loop in this thread; Django would otherwise refuse the
# ORM calls made by fixtures and the live server's database setup from "async" code.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct horse battery staple"
PHONE_WIDTH = 375
# Test artefacts (git-ignored): screenshots of the pages the browser tests visit.
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


def require_browser() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("KONVERGO_REQUIRE_BROWSER") == "1":
        pytest.fail(
            f"KONVERGO_REQUIRE_BROWSER=1 but {CHROMIUM} is missing (apt-get install chromium)",
            pytrace=False,
        )
    pytest.skip(
        f"browser tests need {CHROMIUM} (apt-get install chromium); "
        "set KONVERGO_REQUIRE_BROWSER=1 to fail instead of skipping",
        allow_module_level=True,
    )


def assert_fits_a_phone(page: Page) -> None:
    """No horizontal scrolling at the phone-sized viewport."""
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= PHONE_WIDTH, f"page is {scroll_width}px wide at {PHONE_WIDTH}px"
