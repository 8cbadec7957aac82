"""Shared fixtures: settings from only what a test passes, an app on the embedded store or on a
real driver against a wire-protocol server (harness.mongod), `make dev`'s server in each state a
deployment can be in, stand-ins for what Vercel answers before the function runs, and pages in
headless Chromium, each saved as a screenshot and its text when its test fails. The report's
header names the builder the deploy rehearsal runs."""

import contextlib
import json
import re
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page
from playwright.sync_api import Error as PlaywrightError

from backend.server import create_app
from backend.settings import Settings
from harness import ROOT
from harness.dev_server import dev_server
from harness.issuer import Issuer
from harness.mongod import Mongod
from harness.pins import python_version
from harness.rehearsal import TOOLS, RehearsalError, builder_version, pinned_cli_version
from harness.status_page import chromium, visible_text


def outside_make(env: dict[str, str]) -> dict[str, str]:
    """`env` without what an outer `make` passes to the ones it starts: its flags, and the
    variables set on its command line (`make test PYTHON_VERSION=3.13` would reach a `make` a
    test runs): a `make` as a user types it."""
    assignments = env.get("MAKEFLAGS", "").partition(" -- ")[2].split()
    passed = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", *(a.split("=")[0] for a in assignments)}
    return {name: value for name, value in env.items() if name not in passed}


def pytest_report_header() -> str:
    """The builder the deploy rehearsal runs: the pinned CLI's own, or under `make
    rehearse-latest` the newest on the npm registry."""
    try:
        builder = f"@vercel/python {builder_version()}"
    except RehearsalError:
        builder = "no @vercel/python installed yet"
    return (
        f"rehearsal: {builder} under the Vercel CLI {pinned_cli_version()} in {TOOLS}, "
        f"the function on Python {python_version()}"
    )


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's MONGO_URL, VERCEL or other settings."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def make_settings() -> Callable[..., Settings]:
    def make(**values: object) -> Settings:
        return Settings(_env_file=None, **values)

    return make


@pytest.fixture
def make_client(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., TestClient]]:
    """`make_client(**settings)`: a started TestClient on an app built with those settings."""
    clients: list[TestClient] = []

    def make(**values: object) -> TestClient:
        client = TestClient(create_app(make_settings(**values)))
        clients.append(client.__enter__())
        return client

    yield make
    for client in reversed(clients):
        client.__exit__(None, None, None)


# A module that stores data runs its tests on each: `pytestmark = ON_EVERY_DATABASE`.
ON_EVERY_DATABASE = pytest.mark.parametrize("app", ["embedded", "motor", "pymongo"], indirect=True)


@pytest.fixture(scope="session")
def mongod() -> Iterator[Mongod]:
    with Mongod() as server:
        yield server


@pytest.fixture
def app_settings() -> dict[str, object]:
    """Settings the `app` fixture adds: a module overrides this fixture (with AUTH_ISSUER...)."""
    return {}


@pytest.fixture
def app(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Settings],
    app_settings: dict[str, object],
) -> FastAPI:
    """The app on a fresh embedded (mongomock-motor) database; where a module parametrizes it
    with a driver, on that driver over a socket, with a fresh database on the wire server."""
    driver = getattr(request, "param", "embedded")
    if driver == "embedded":
        return create_app(make_settings(**app_settings))
    url = request.getfixturevalue("mongod").url(f"test_{uuid.uuid4().hex[:16]}")
    return create_app(make_settings(mongo_url=url, mongo_driver=driver, **app_settings))


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    """A sign-in provider on this machine (harness.issuer): its keys, its tokens."""
    with Issuer() as issuer:
        yield issuer


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="module")
def stopping() -> Iterator[list[threading.Thread]]:
    """Servers stop in the background (mockupdb takes a second each); all have by the end."""
    threads: list[threading.Thread] = []
    yield threads
    for thread in threads:
        thread.join()


@pytest.fixture
def start_mongod(stopping: list[threading.Thread]) -> Iterator[Callable[..., Mongod]]:
    """`start_mongod(**options)`: a `harness.mongod.Mongod` (a wire-protocol server that stores),
    stopped after the test. A test pushes a fault on top with `mongod.server.autoresponds(...)`
    (the newest responder wins) and cancels it to bring the server back."""
    servers: list[Mongod] = []

    def start(**options: Any) -> Mongod:
        servers.append(Mongod(**options))
        return servers[-1]

    yield start
    for server in servers:
        stopping.append(threading.Thread(target=server.stop))
        stopping[-1].start()


# A server that never answers gives up after this long, so a broken timeout fails the test
# instead of hanging the run.
HANG_LIMIT_S = 8.0


@pytest.fixture
def never_answer() -> Iterator[Callable[[Any], bool]]:
    """A responder that takes the request and never replies (it hangs up after HANG_LIMIT_S).

    Registering no responder at all would leave the request queued in mockupdb, and the next
    `autoresponds` call would try to match it and raise EBADF on its closed socket."""
    timers: list[threading.Timer] = []

    def respond(request: Any) -> bool:
        timer = threading.Timer(HANG_LIMIT_S, _hang_up_quietly, [request])
        timers.append(timer)
        timer.start()
        return True

    yield respond
    for timer in timers:
        timer.cancel()


def _hang_up_quietly(request: Any) -> None:
    with contextlib.suppress(OSError):  # the client gave up and closed the connection first
        request.hangup()


# Long enough to be accepted, and easy to search for in a log or a response.
TEST_API_KEY = "Test-Api-Key-0123456789-abcdefghijklmnopqrstuv"

DEPLOYMENT_STATES = {
    "healthy": {},
    # A deployment with no MONGO_URL: the function loads, the database routes answer 503.
    "no_database": {"VERCEL": "1"},
    # A setting that stops the backend from importing: the fallback answers 503 everywhere.
    "not_loaded": {"MONGO_TIMEOUT_MS": "not-a-number"},
    # API_KEY set: every write needs it.
    "keyed": {"API_KEY": TEST_API_KEY},
    # A deployment with a database (the session's `mongod`) and no API_KEY: writes are off.
    "writes_off": {"VERCEL": "1"},
}
WITH_DATABASE = {"writes_off"}


class Deployments:
    """`deployment(state)`: the URL of `make dev`'s server in one of DEPLOYMENT_STATES, each
    started once per session; `deployment.log(state)`: what it has written."""

    def __init__(
        self, servers: contextlib.ExitStack, request: pytest.FixtureRequest, tmp: Path
    ) -> None:
        self._servers, self._request, self._tmp = servers, request, tmp
        self._urls: dict[str, str] = {}

    def __call__(self, state: str) -> str:
        if state not in self._urls:
            env = dict(DEPLOYMENT_STATES[state])
            if state in WITH_DATABASE:
                env["MONGO_URL"] = self._request.getfixturevalue("mongod").url(state)
            self.log(state).parent.mkdir()
            server = dev_server(self.log(state), env=env)
            self._urls[state] = self._servers.enter_context(server)
        return self._urls[state]

    def log(self, state: str) -> Path:
        return self._tmp / state / "server.log"


@pytest.fixture(scope="session")
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployments]:
    with contextlib.ExitStack() as servers:
        yield Deployments(servers, request, tmp_path_factory.mktemp("deployments"))


LOGIN_PAGE = b"<!doctype html><title>Authentication Required</title><p>Vercel Authentication"


class FakeVercel:
    """A stdlib HTTP server answering like a Vercel deployment whose function does not answer:
    the page at `/` (with vercel.json's CSP) and `api_answer` on every other path."""

    def __init__(self, status: int, body: bytes, content_type: str) -> None:
        page = (ROOT / "public" / "index.html").read_bytes()
        (rule,) = json.loads((ROOT / "vercel.json").read_text())["headers"]
        page_headers = [(h["key"], h["value"]) for h in rule["headers"]]
        self.received: list[dict[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.received.append({k.lower(): v for k, v in self.headers.items()})
                if self.path == "/":
                    self._answer(200, page, "text/html; charset=utf-8", page_headers)
                else:
                    self._answer(status, body, content_type, [])

            do_DELETE = do_POST = do_GET

            def _answer(self, code: int, content: bytes, kind: str, extra: list) -> None:
                self.send_response(code)
                for name, value in [("content-type", kind), *extra]:
                    self.send_header(name, value)
                self.send_header("content-length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_vercel() -> Iterator[Callable[[int, bytes, str], FakeVercel]]:
    servers: list[FakeVercel] = []

    def start(status: int, body: bytes, content_type: str) -> FakeVercel:
        servers.append(FakeVercel(status, body, content_type))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def protected(fake_vercel: Callable[[int, bytes, str], FakeVercel]) -> str:
    """A deployment behind Deployment Protection, as a logged-in browser that got the page but
    not the API would see it: 401 with an HTML login page on every /api/ path."""
    return fake_vercel(401, LOGIN_PAGE, "text/html; charset=utf-8").url


# What each page of a failing browser test showed, from the last run that used a browser.
FAILED_PAGES = ROOT / ".tools" / "test-screenshots"


@dataclass
class WatchedPage:
    """A test's page and what its console said, the browser's own errors (a CSP block) too."""

    page: Page
    console: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on(
            "console", lambda message: self.console.append(f"{message.type}: {message.text}")
        )
        self.page.on("pageerror", lambda error: self.console.append(f"uncaught: {error}"))


_WATCHED = pytest.StashKey[list[WatchedPage]]()


@pytest.fixture(scope="session")
def _no_failed_pages_yet() -> None:
    shutil.rmtree(FAILED_PAGES, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(_no_failed_pages_yet: None) -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def new_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Callable[..., Page]]:
    """`new_page(width=800, javascript=True)`: a blank page in a fresh browser context (no
    cookies or storage shared between tests), `width` CSS pixels wide (under 600: a phone).
    When the test fails, each is saved under FAILED_PAGES and the report says where."""
    watched = request.node.stash.setdefault(_WATCHED, [])

    def make(width: int = 800, javascript: bool = True) -> Page:
        page = browser.new_page(
            viewport={"width": width, "height": 600},
            is_mobile=width < 600,
            java_script_enabled=javascript,
        )
        watched.append(WatchedPage(page))
        return page

    yield make
    for each in watched:
        each.page.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed test's pages are saved while they are still open, before fixtures close them."""
    report = yield
    watched = item.stash.get(_WATCHED, [])
    if report.failed and call.when == "call" and watched:
        name = re.sub(r"[^\w.-]+", "-", item.name).strip("-")
        saved = [_save(each, f"{name}-{n}" if n > 1 else name) for n, each in enumerate(watched, 1)]
        report.sections.append(("what the page showed", "\n\n".join(saved)))
    return report


def _save(watched: WatchedPage, name: str) -> str:
    """A PNG of the whole page, and a text file of its URL, console and visible text."""
    page, console = watched.page, "\n".join(watched.console) or "(nothing)"
    FAILED_PAGES.mkdir(parents=True, exist_ok=True)
    picture, text = FAILED_PAGES / f"{name}.png", FAILED_PAGES / f"{name}.txt"
    try:
        page.screenshot(path=picture, full_page=True)
        text.write_text(f"{page.url}\n\nConsole:\n{console}\n\nText:\n{visible_text(page)}\n")
    except PlaywrightError as error:
        return f"{page.url}: not saved ({error.message})\nConsole:\n{console}"
    return f"{page.url}: {picture.relative_to(ROOT)}, {text.relative_to(ROOT)}\nConsole:\n{console}"
