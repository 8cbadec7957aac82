"""The page at `/` in headless Chromium (Playwright), against `make dev`'s server in each state a
deployment can be in: what a reader sees, the form's write read back (with the API key when the
server has one, which the page keeps to itself), and no JavaScript at all.
A failing test leaves a screenshot and the page's text in .tools/test-screenshots/."""

import re
import uuid
from urllib.parse import urlsplit

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
from tests.conftest import TEST_API_KEY as KEY

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


def stored_names(url):
    return {check["client_name"] for check in httpx.get(f"{url}/api/status?limit=100").json()}


def test_with_api_key_set_a_create_without_it_shows_the_401_and_its_fix(new_page, deployment):
    url = deployment("keyed")
    page = open_checked(new_page(), url)
    name = f"no key {uuid.uuid4().hex[:8]}"
    send_by_keyboard(page, {"Client name": name})
    created = page.get_by_role("status")
    # The function's 401, in JSON: its own row, not Deployment Protection's login page.
    expect(created).to_contain_text(
        "FAILING — HTTP 401: Writes need the API key: send the header Authorization: Bearer "
        "<API_KEY>, with the value API_KEY has on the server. "
        "This request has no Authorization header."  # an empty field sends none
    )
    expect(created).to_contain_text(
        "Fix: send Authorization: Bearer <API_KEY> with the value set on the server"
    )
    expect(created).not_to_contain_text("Deployment Protection")
    expect(call_made(page, "POST /api/status")).to_contain_text("HTTP 401")
    expect(page.locator("#list")).not_to_contain_text(name)
    assert name not in stored_names(url)


def test_with_api_key_set_a_create_with_it_typed_is_stored_and_read_back(new_page, deployment):
    url = deployment("keyed")
    page = open_checked(new_page(), url)
    name = f"keyed {uuid.uuid4().hex[:8]}"
    send_by_keyboard(page, {"API key": KEY, "Client name": name})
    expect(page.get_by_role("status")).to_contain_text(f'ok — created "{name}"')
    expect(call_made(page, "POST /api/status")).to_contain_text("HTTP 201")
    expect(page.locator("#list")).to_contain_text(name)
    assert name in stored_names(url)


def test_the_key_is_sent_only_as_the_create_s_bearer_token(new_page, deployment):
    page = open_checked(new_page(), deployment("keyed"))
    requests = []
    page.on("request", lambda request: requests.append(request))
    send_by_keyboard(page, {"API key": KEY, "Client name": f"bearer {uuid.uuid4().hex[:8]}"})
    expect(call_made(page, "GET /api/status?limit=10")).to_have_count(2)  # read back too
    found = [
        (request.method, urlsplit(request.url).path, where, value)
        for request in requests
        for where, value in [
            ("url", request.url),
            ("body", request.post_data or ""),
            *request.all_headers().items(),
        ]
        if KEY in value
    ]
    assert found == [("POST", "/api/status", "authorization", f"Bearer {KEY}")]


def test_the_key_is_kept_in_no_url_storage_cookie_or_page_text(new_page, deployment):
    page = open_checked(new_page(), deployment("keyed"))
    send_by_keyboard(page, {"API key": KEY, "Client name": f"kept {uuid.uuid4().hex[:8]}"})
    expect(page.get_by_role("status")).to_contain_text("ok — created")
    places = page.evaluate(
        """() => ({
            url: location.href,
            localStorage: JSON.stringify({...localStorage}),
            sessionStorage: JSON.stringify({...sessionStorage}),
            cookie: document.cookie,
            html: document.documentElement.outerHTML,
        })"""
    )
    places["text"] = visible_text(page)
    assert [place for place, value in places.items() if KEY in value] == []
    assert page.get_by_label("API key").input_value() == KEY  # typed: it is in memory


def test_the_key_field_is_masked_and_not_offered_for_autofill(new_page, deployment):
    field = open_checked(new_page(), deployment("keyed")).get_by_label("API key")
    expect(field).to_have_attribute("type", "password")
    expect(field).to_have_attribute("autocomplete", "off")


def test_a_key_no_server_could_hold_is_not_sent(new_page, deployment):
    # API_KEY is printable ASCII without spaces; fetch() would refuse some other characters.
    page = open_checked(new_page(), deployment("keyed"))
    send_by_keyboard(page, {"API key": "not a kéy", "Client name": "never sent"})
    expect(page.get_by_role("status")).to_have_text(
        "FAILING — not sent: the API key holds a space or a character outside printable ASCII, "
        "which no API_KEY does; paste the server's value."
    )
    expect(call_made(page, "POST /api/status")).to_have_count(0)


def test_a_deployment_without_api_key_reads_but_shows_writes_off_and_its_fix(new_page, deployment):
    url = deployment("writes_off")
    page = open_checked(new_page(), url)
    expect(shown_for(page, "Database")).to_contain_text("ok — mongodb")
    expect(call_made(page, "GET /api/status?limit=10")).to_contain_text("HTTP 200")
    name = f"off {uuid.uuid4().hex[:8]}"
    send_by_keyboard(page, {"Client name": name})
    created = page.get_by_role("status")
    expect(created).to_contain_text(
        "FAILING — HTTP 403: Writes are off: this deployment has no API_KEY."
    )
    expect(created).to_contain_text("Fix: vercel env add API_KEY (Production and Preview)")
    assert name not in stored_names(url)


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
