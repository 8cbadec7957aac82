"""The page at `/` in headless Chromium, against `make dev`'s server in each state a deployment
can be in: what a reader sees, the form's write read back, and no JavaScript at all."""

import re
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from harness.browser import INSTALL_HINT, Browser, Tab, chromium_path

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        chromium_path() is None,
        reason=f"Chromium is not installed: `{INSTALL_HINT}` (.ci/run installs it)",
    ),
]

CHECKED = "document.querySelector('main').getAttribute('aria-busy') === 'false'"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser() as browser:
        yield browser


def checked_page(browser: Browser, url: str, width: int = 800) -> Tab:
    tab = browser.open(f"{url}/", width=width)
    tab.wait_for(CHECKED)
    return tab


def test_a_healthy_deployment_reads_ok_for_the_function_and_the_database(browser, deployment):
    url = deployment("healthy")
    text = checked_page(browser, url).text()
    assert re.search(r"Function\nok — up: GET /api/ answered 200 in \d+ ms\.", text)
    assert re.search(
        r"Database\nok — embedded, driver mongomock: the health check's round trip took \d+ ms\.",
        text,
    )
    version = httpx.get(f"{url}/api/openapi.json").json()["info"]["version"]
    assert f"API version\n{version}\n" in text
    assert re.search(r"GET /api/health: HTTP 200 in \d+ ms, request id [0-9a-f]{32}", text)
    assert "FAILING" not in text


def test_the_page_s_style_and_script_run_under_its_content_security_policy(browser, deployment):
    url = deployment("healthy")
    csp = httpx.get(f"{url}/").headers["content-security-policy"]
    assert "default-src 'none'" in csp
    tab = checked_page(browser, url)  # aria-busy is set by the script: it ran
    assert tab.evaluate("getComputedStyle(document.querySelector('main')).maxWidth") == "800px"


def test_a_status_check_typed_and_sent_by_keyboard_appears_in_the_list(browser, deployment):
    tab = checked_page(browser, deployment("healthy"))
    for _ in range(20):  # Tab through the links to the field, as a keyboard user does
        if tab.evaluate("document.activeElement.id") == "client-name":
            break
        tab.press("Tab", "Tab", 9)
    assert tab.evaluate("document.activeElement.id") == "client-name"
    name = f"keyboard {uuid.uuid4().hex[:8]}"
    tab.type(name)
    tab.press("Enter", "Enter", 13, "\r")
    tab.wait_for(f"document.getElementById('list').innerText.includes({name!r})")
    text = tab.text()
    assert f'ok — created "{name}"' in text
    assert "POST /api/status: HTTP 201" in text


def test_a_deployment_without_a_database_shows_the_503_and_its_fix(browser, deployment):
    text = checked_page(browser, deployment("no_database")).text()
    assert re.search(r"Function\nok — up", text)
    assert "Database\nFAILING — HTTP 503: MONGO_URL is not set, nor MONGODB_URI." in text
    assert "Fix: connect the Atlas integration, or add MONGO_URL (Deploy), then redeploy" in text


def test_a_backend_that_failed_to_load_shows_the_fallback_s_cause(browser, deployment):
    text = checked_page(browser, deployment("not_loaded")).text()
    assert (
        "Function\nFAILING — not loaded: The backend failed to load: SettingsError: "
        "Invalid configuration: MONGO_TIMEOUT_MS" in text
    )
    assert "Fix: the function log has the full traceback" in text
    assert "Database\nnot checked: the function does not answer." in text
    assert "Latest status checks" not in text


def test_a_login_page_instead_of_the_api_is_named_as_deployment_protection(browser, protected):
    text = checked_page(browser, protected).text()
    assert (
        "Function\nFAILING — unreachable: HTTP 401 with text/html, not JSON: "
        "Deployment Protection answered before the function." in text
    )
    assert "Fix: open the URL in a browser logged in to Vercel" in text


def test_without_javascript_the_page_says_what_it_is_and_links_to_the_docs(browser, deployment):
    tab = browser.open(f"{deployment('healthy')}/", javascript=False)
    tab.wait_for("document.querySelector('#troubleshooting')")
    time.sleep(0.2)  # nothing would change it: scripts are off
    text = tab.text()
    assert "This deployment serves a JSON API under /api/" in text
    assert "JavaScript, which is off or blocked here" in text
    assert "checking…" not in text  # the parts only the script fills stay hidden
    assert tab.evaluate("!!document.querySelector('a[href=\"/api/docs\"]')")


@pytest.mark.parametrize("state", ["healthy", "not_loaded"])
def test_on_a_phone_nothing_scrolls_sideways(browser, deployment, state):
    tab = checked_page(browser, deployment(state), width=360)
    assert tab.evaluate("document.documentElement.scrollWidth") <= 360
