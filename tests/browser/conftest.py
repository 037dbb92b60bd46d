"""Browser tests: real Chromium (Debian's, not Playwright's download) against live_server.

Every test here is marked `browser`; `pytest -m "not browser"` leaves them out.
They need `apt-get install chromium chromium-driver`; when Chromium is missing they
fail (not skip), so a CI image without it cannot pass silently.
"""

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

# Playwright's sync API runs an event loop in this thread; without this every ORM
# call made by a test or fixture raises SynchronousOnlyOperation.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000

expect.set_options(timeout=TIMEOUT_MS)


def pytest_collection_modifyitems(config, items):
    # A conftest hook sees every collected item, not only this folder's.
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Browser tests need Chromium at {CHROMIUM}, which is missing. "
            "Install it with: apt-get install -y chromium chromium-driver "
            "(never `playwright install`).",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def browser_locale() -> str:
    """The browser's Accept-Language. English by default so that text locators do not
    depend on whether the German catalogue is compiled; a test that is about
    language overrides it with `@pytest.mark.parametrize("browser_locale", ["de-DE"])`."""
    return "en-US"


@pytest.fixture
def page(browser: Browser, browser_locale: str) -> Iterator[Page]:
    context = browser.new_context(locale=browser_locale, timezone_id="Europe/Berlin")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


def login(page: Page, live_server, username: str, password: str) -> None:
    """Sign in through the real login form (English labels: see `browser_locale`)."""
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def path_is(live_server, path: str) -> re.Pattern:
    """A URL pattern for `expect(page).to_have_url(...)`: exactly this path, any query."""
    return re.compile(re.escape(f"{live_server.url}{path}") + r"(\?.*)?$")
