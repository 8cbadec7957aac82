"""The page at `/` in headless Chromium (Playwright), against `make dev`'s server in each state a
deployment can be in: what a reader sees, the form's write read back, and no JavaScript at all.
A failing test leaves a screenshot and the page's text in .tools/test-screenshots/."""

import re
import uuid

import httpx
import pytest
from playwright.sync_api import expect

from harness.status_page import (
    INSTALL_HINT,
    call_made,
    chromium_path,
    open_checked,
    send_by_keyboard,
    shown_for,
    visible_text,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        chromium_path() is None,
        reason=f"Chromium is not installed: `{INSTALL_HINT}` (.ci/run installs it)",
    ),
]


def test_a_healthy_deployment_reads_ok_for_the_function_and_the_database(new_page, deployment):
    url = deployment("healthy")
    page = open_checked(new_page(), url)
    expect(shown_for(page, "Function")).to_have_text(
        re.compile(r"^ok — up: GET /api/ answered 200 in \d+ ms\.$")
    )
    expect(shown_for(page, "Database")).to_have_text(
        re.compile(
            r"^ok — embedded, driver mongomock: the health check's round trip took \d+ ms\.$"
        )
    )
    version = httpx.get(f"{url}/api/openapi.json").json()["info"]["version"]
    expect(shown_for(page, "API version")).to_have_text(version)
    expect(call_made(page, "GET /api/health")).to_have_text(
        re.compile(r"HTTP 200 in \d+ ms, request id [0-9a-f]{32}$")
    )
    assert "FAILING" not in visible_text(page)


def test_the_page_s_style_and_script_run_under_its_content_security_policy(new_page, deployment):
    url = deployment("healthy")
    csp = httpx.get(f"{url}/").headers["content-security-policy"]
    assert "default-src 'none'" in csp
    page = open_checked(new_page(), url)  # aria-busy is set by the script: it ran
    expect(page.locator("main")).to_have_css("max-width", "800px")


def test_a_status_check_typed_and_sent_by_keyboard_appears_in_the_list(new_page, deployment):
    page = open_checked(new_page(), deployment("healthy"))
    name = f"keyboard {uuid.uuid4().hex[:8]}"
    send_by_keyboard(page, {"Client name": name})
    expect(page.get_by_role("status")).to_contain_text(f'ok — created "{name}"')
    expect(call_made(page, "POST /api/status")).to_contain_text("HTTP 201")
    expect(page.locator("#list")).to_contain_text(name)  # the list read back after the write


def test_a_deployment_without_a_database_shows_the_503_and_its_fix(new_page, deployment):
    page = open_checked(new_page(), deployment("no_database"))
    expect(shown_for(page, "Function")).to_contain_text("ok — up")
    database = shown_for(page, "Database")
    expect(database).to_contain_text("FAILING — HTTP 503: MONGO_URL is not set, nor MONGODB_URI.")
    expect(database).to_contain_text(
        "Fix: connect the Atlas integration, or add MONGO_URL (Deploy), then redeploy"
    )


def test_a_backend_that_failed_to_load_shows_the_fallback_s_cause(new_page, deployment):
    page = open_checked(new_page(), deployment("not_loaded"))
    function = shown_for(page, "Function")
    expect(function).to_contain_text(
        "FAILING — not loaded: The backend failed to load: SettingsError: "
        "Invalid configuration: MONGO_TIMEOUT_MS"
    )
    expect(function).to_contain_text("Fix: the function log has the full traceback")
    expect(shown_for(page, "Database")).to_have_text("not checked: the function does not answer.")
    expect(page.get_by_role("heading", name="Latest status checks")).to_be_hidden()


def test_a_login_page_instead_of_the_api_is_named_as_deployment_protection(new_page, protected):
    page = open_checked(new_page(), protected)
    function = shown_for(page, "Function")
    expect(function).to_contain_text(
        "FAILING — unreachable: HTTP 401 with text/html, not JSON: "
        "Deployment Protection answered before the function."
    )
    expect(function).to_contain_text("Fix: open the URL in a browser logged in to Vercel")


def test_without_javascript_the_page_says_what_it_is_and_links_to_the_docs(new_page, deployment):
    page = new_page(javascript=False)
    page.goto(f"{deployment('healthy')}/")  # waits for the load event; no script changes it after
    expect(page.get_by_text("This deployment serves a JSON API under /api/")).to_be_visible()
    expect(page.get_by_text("JavaScript, which is off or blocked here")).to_be_visible()
    # The parts only the script fills stay hidden.
    expect(page.get_by_text("checking…").filter(visible=True)).to_have_count(0)
    expect(page.get_by_role("link", name="interactive API docs")).to_have_attribute(
        "href", "/api/docs"
    )


@pytest.mark.parametrize("state", ["healthy", "not_loaded"])
def test_on_a_phone_nothing_scrolls_sideways(new_page, deployment, state):
    page = open_checked(new_page(width=360), deployment(state))
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
