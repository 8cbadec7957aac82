"""The status page in Debian's Chromium, driven by Playwright: the browser, and what a reader does
on the page. Shared by tests/test_status_page.py and scripts/screenshots.py.

Playwright launches the `chromium` on PATH (`executable_path`): it never downloads a browser.
"""

import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

INSTALL_HINT = "apt-get install -y chromium"
# A healthy page makes four API calls; a loaded 2-core machine can take seconds over them.
CHECKED_MS = 15_000
# More than the links and fields before any field of the form.
MOST_TAB_PRESSES = 30


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless (no display) and without its sandbox (which refuses root)."""
    executable = chromium_path()
    if executable is None:
        raise RuntimeError(f"Chromium is not on PATH: {INSTALL_HINT}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, chromium_sandbox=False
        )
        try:
            yield browser
        finally:
            browser.close()


def open_checked(page: Page, url: str) -> Page:
    """Open the status page at `url` and wait until its script has checked the deployment."""
    page.goto(f"{url}/")
    expect(page.locator("main")).to_have_attribute("aria-busy", "false", timeout=CHECKED_MS)
    return page


def shown_for(page: Page, term: str) -> Locator:
    """What the page says for `term` under "Is it working?": Function, Database, API version."""
    return page.get_by_role("term").filter(has_text=term).locator("xpath=following-sibling::dd[1]")


def section(page: Page, heading: str) -> Locator:
    """The part of the page under `heading`, e.g. "Latest status checks"."""
    return page.locator("section").filter(has=page.get_by_role("heading", name=heading))


def call_made(page: Page, request: str) -> Locator:
    """The line for `request` (e.g. "GET /api/health") under "Calls made by this page"."""
    calls = section(page, "Calls made by this page").get_by_role("listitem")
    return calls.filter(has_text=f"{request}: ")


def visible_text(page: Page) -> str:
    """What the page shows, as a reader sees it (hidden elements left out)."""
    return page.locator("body").inner_text()


def tab_to(page: Page, target: Locator) -> None:
    """Press Tab until `target` has the focus, as a keyboard user moves through the page."""
    for _ in range(MOST_TAB_PRESSES):
        if target.evaluate("element => element === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{target} has no focus after {MOST_TAB_PRESSES} presses of Tab")


def send_by_keyboard(page: Page, fields: Mapping[str, str]) -> None:
    """Tab to each field of the form by its label, type its value, and send the form with
    Enter; return once the page shows the answer (it reads the list back after that)."""
    for label, value in fields.items():
        tab_to(page, page.get_by_label(label))
        page.keyboard.type(value)
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).not_to_be_empty(timeout=CHECKED_MS)
