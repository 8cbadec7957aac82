"""`make smoke` against `make dev`'s server in each state, and against the answers Vercel gives
before a function runs: Deployment Protection, no function, no connection, TLS, a timeout. The
routes it must walk are read from the server's own OpenAPI document, as `make smoke` reads them;
the sample in docs/testing.md is what it prints."""

import json
import os
import re
import socket
import subprocess
import sys

import httpx
import pytest

from harness import ROOT
from harness.dev_server import dev_server
from harness.issuer import Issuer
from harness.net import free_port
from harness.openapi import collections, expected_allow, paths, unserved_request
from harness.troubleshooting import entries, fix_for
from tests.conftest import LOGIN_PAGE, TEST_API_KEY

SECRET = "bypass-Secret-4f1c"


def make_smoke(url: str, *extra: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = subprocess.run(
        ["make", "-s", "smoke", f"URL={url}", *extra],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result.returncode, result.stdout


def smoke(url: str, *args: str) -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, "-m", "scripts.smoke", url, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.returncode, result.stdout


def document(url: str) -> dict:
    return httpx.get(f"{url}/api/openapi.json").json()


def walk_lines(url: str) -> tuple[list[str], list[str]]:
    """What the walk of the server's document prints: a prefix per collection, a line per 405."""
    listed = [f"ok    GET {path}: 200 JSON, a list of " for path in collections(document(url))]
    refused = []
    for path, methods in paths(document(url)).items():
        method, target = unserved_request(path, methods)
        allow = ", ".join(sorted(expected_allow(methods)))
        refused.append(f"ok    {method} {target}: 405 JSON, Allow: {allow}")
    return listed, refused


@pytest.mark.slow
def test_a_healthy_deployment_passes_every_check_including_the_writes(deployment):
    url = deployment("healthy")
    code, out = make_smoke(url, "WRITE=1")
    assert code == 0, out
    lines = out.splitlines()
    assert {line[:6] for line in lines if line.startswith(("ok", "FAIL"))} == {"ok    "}
    listed, refused = walk_lines(url)
    assert listed  # a walk that finds no collection checks none
    for prefix in listed:
        assert any(line.startswith(prefix) for line in lines), prefix
    for line in refused:
        assert line in lines
    assert "ok    GET /api/health: 200, embedded, driver mongomock, in " in out
    assert "ok    POST /api/status again, same Idempotency-Key: the same id" in out
    assert "ok    GET /api/status?limit=100: lists the new status check 1 time(s)" in out
    assert lines[-1] == "all checks passed"


@pytest.mark.slow
def test_the_writes_send_api_key_and_never_print_it(deployment):
    code, out = make_smoke(deployment("keyed"), "WRITE=1", env={"API_KEY": TEST_API_KEY})
    assert code == 0, out
    assert out.splitlines()[0].endswith("(API_KEY sent with the writes)")
    assert "ok    POST /api/status again, same Idempotency-Key: the same id" in out
    assert TEST_API_KEY not in out


@pytest.mark.slow
@pytest.mark.parametrize(
    ("api_key", "sent"),
    [(None, "environment has no API_KEY"), ("x" * 40, "environment sent the API_KEY")],
)
def test_a_write_refused_for_its_key_says_so_with_the_fix(deployment, api_key, sent):
    env = {"API_KEY": api_key} if api_key else {}
    code, out = make_smoke(deployment("keyed"), "WRITE=1", env=env)
    assert code != 0
    [line] = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert line.startswith("FAIL  POST /api/status: HTTP 401, Writes need the API key: ")
    assert f". make smoke's {sent}. Fix (README, Troubleshooting): send `Authorization:" in line
    assert "for `make smoke WRITE=1`, export `API_KEY`; the replay and read back not run" in line
    assert TEST_API_KEY not in out


@pytest.mark.slow
def test_writes_on_a_deployment_without_api_key_fail_with_the_fix(deployment):
    code, out = make_smoke(deployment("writes_off"), "WRITE=1")
    assert code != 0
    [line] = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert line.startswith(
        "FAIL  POST /api/status: HTTP 403, Writes are off: this deployment has no API_KEY."
    )
    assert "Fix (README, Troubleshooting): `vercel env add API_KEY` (Production and" in line


@pytest.mark.slow
def test_a_deployment_without_a_database_fails_on_health_and_each_collection_with_the_fix(
    deployment,
):
    url = deployment("no_database")
    code, out = make_smoke(url)
    assert code != 0
    assert "ok    GET /api/: 200 JSON" in out
    assert (
        "FAIL  GET /api/health: HTTP 503, MONGO_URL is not set, nor MONGODB_URI. A Vercel "
        "deployment never uses the in-memory database" in out
    )
    assert (
        "then redeploy. Fix (README, Troubleshooting): connect the Atlas integration, or add "
        "`MONGO_URL` (Deploy), then redeploy\n" in out
    )
    assert "ok    GET /: 200, the status page" in out
    failed = 1  # the health check
    for path in collections(document(url)):
        # A collection that reads the database fails with the same fix; one that does not, passes.
        (line,) = [line for line in out.splitlines() if line[6:].startswith(f"GET {path}: ")]
        unconfigured = f"FAIL  GET {path}: HTTP 503, MONGO_URL is not set, nor MONGODB_URI."
        assert line.startswith((unconfigured, f"ok    GET {path}: 200 JSON")), line
        failed += line.startswith("FAIL")
    assert failed > 1  # the project's own collections read the database
    assert out.splitlines()[-1] == f"{failed} check(s) failed"


SAMPLE_PAGE = ROOT / "docs" / "testing.md"
SAMPLE = re.compile(r"```\n(make smoke: https://<your-app>\n.*?)```", re.DOTALL)


def with_placeholders(out: str, url: str) -> str:
    """The output with its varying parts as the sample writes them: the URL, the random path."""
    out = out.replace(url, "https://<your-app>")
    return re.sub(r"/api/smoke-[0-9a-f]{8}\b", "/api/smoke-<random>", out)


CHECK_LINE = re.compile(r"^(?:ok  |FAIL)  [A-Z]+ (/api/[^:]*):", re.MULTILINE)
COUNTS = re.compile(r"\d+(?= /api/ answers$| check\(s\) failed$)", re.MULTILINE)


def as_in_the_sample(printed: str, sample: str) -> str:
    """`printed` without the lines about paths the sample does not name (routes added since it
    was written), and with the counts those lines change left out, in both."""
    named = set(CHECK_LINE.findall(sample))
    kept = [
        line
        for line in printed.splitlines(keepends=True)
        if (match := CHECK_LINE.match(line)) is None or match[1] in named
    ]
    return COUNTS.sub("<n>", "".join(kept))


@pytest.mark.slow
def test_the_documented_sample_is_what_make_smoke_prints_on_a_deployment_without_a_database(
    deployment,
):
    url = deployment("no_database")
    _, out = make_smoke(url)
    (sample,) = SAMPLE.findall(SAMPLE_PAGE.read_text())
    printed = with_placeholders(out, url)
    assert COUNTS.sub("<n>", sample) == as_in_the_sample(printed, sample), (
        f"docs/testing.md's sample of `make smoke` is now:\n{printed}"
    )


@pytest.mark.slow
def test_a_backend_that_failed_to_load_stops_at_the_first_check_with_its_cause(deployment):
    code, out = make_smoke(deployment("not_loaded"))
    assert code != 0
    first, stopped = out.splitlines()[1:3]
    assert first.startswith(
        "FAIL  GET /api/: HTTP 503, The backend failed to load: SettingsError: "
        "Invalid configuration: MONGO_TIMEOUT_MS"
    )
    fix = fix_for("503 `The backend failed to load", entries())
    assert first.endswith(f"Fix (README, Troubleshooting): {fix}")
    assert stopped.strip().startswith("stopped:")


def test_deployment_protection_is_named_and_the_bypass_secret_sent_but_never_shown(fake_vercel):
    protected = fake_vercel(401, LOGIN_PAGE, "text/html; charset=utf-8")
    code, out = make_smoke(protected.url, env={"VERCEL_AUTOMATION_BYPASS_SECRET": SECRET})
    assert code != 0
    assert (
        "FAIL  GET /api/: HTTP 401, text/html: Deployment Protection answered before the "
        "function (VERCEL_AUTOMATION_BYPASS_SECRET was sent as x-vercel-protection-bypass and "
        "refused)" in out
    )
    assert protected.received[0]["x-vercel-protection-bypass"] == SECRET
    assert SECRET not in out


def test_deployment_protection_without_a_secret_says_how_to_pass_it(fake_vercel):
    protected = fake_vercel(403, LOGIN_PAGE, "text/html")
    code, out = smoke(protected.url)
    assert code != 0
    assert "(VERCEL_AUTOMATION_BYPASS_SECRET is not set)" in out
    assert "set `VERCEL_AUTOMATION_BYPASS_SECRET`" in out
    assert "x-vercel-protection-bypass" not in protected.received[0]


def test_a_404_page_on_every_api_path_says_the_function_was_not_detected(fake_vercel):
    not_found = fake_vercel(404, b"The page could not be found\n\nNOT_FOUND\n", "text/plain")
    code, out = smoke(not_found.url)
    assert code != 0
    api_lines = [line for line in out.splitlines() if re.match(r"\w+ +[A-Z]+ /api/", line)]
    checked = {line.split(":")[0].split(maxsplit=1)[1] for line in api_lines}
    assert {"GET /api/", "GET /api/health", "GET /api/docs", "GET /api/openapi.json"} <= checked
    assert "not walked: without the OpenAPI document, no route is checked" in out
    for line in api_lines:
        assert line.startswith("FAIL")
        assert (
            "HTTP 404, text/plain, not the function's JSON: the function was not detected" in line
        )
        assert "keep `app = ...` at the top level of `api/index.py`" in line


def served_by(answers: dict[tuple[str, str], tuple[int, object, dict[str, str]]]):
    """An httpx transport answering `answers[(method, path)]` (status, JSON body, headers) with
    the safe headers, and a JSON 404 to anything else."""
    safe = {"x-request-id": "1", "x-content-type-options": "nosniff", "cache-control": "no-store"}

    def answer(request: httpx.Request) -> httpx.Response:
        status, body, headers = answers.get(
            (request.method, request.url.path), (404, {"detail": "Not Found"}, {})
        )
        content = json.dumps(body).encode()
        headers = {**safe, "content-type": "application/json", **headers}
        # A stream, read as a network answer is: `elapsed` is set once it is read.
        return httpx.Response(status, headers=headers, stream=httpx.ByteStream(content))

    return httpx.MockTransport(answer)


def test_the_walk_fails_a_collection_that_is_not_a_list_and_an_allow_unlike_the_document(capsys):
    from scripts.smoke import Smoke

    ok: tuple[int, object, dict[str, str]] = (200, {}, {})
    listed = {"200": {"content": {"application/json": {"schema": {"type": "array"}}}}}
    document = {
        "info": {"version": "1"},
        "paths": {
            "/api/things": {"get": {"responses": listed}, "post": {"responses": {}}},
            "/api/things/{thing_id}": {"get": {"responses": {}}},
        },
    }
    transport = served_by(
        {
            ("GET", "/api/"): ok,
            ("GET", "/api/health"): ok,
            ("GET", "/api/openapi.json"): (200, document, {}),
            ("GET", "/api/things"): (200, {"things": []}, {}),
            ("DELETE", "/api/things"): (405, {"detail": "x"}, {"allow": "GET, POST"}),
            ("DELETE", "/api/things/0"): (405, {"detail": "x"}, {"allow": "GET, HEAD"}),
        }
    )
    with httpx.Client(base_url="http://test", transport=transport) as client:
        Smoke(client, bypass_sent=False).run(write=False)
    lines = capsys.readouterr().out.splitlines()
    assert 'FAIL  GET /api/things: HTTP 200, {"things": []}' in lines
    assert "FAIL  DELETE /api/things: 405, Allow: GET, POST; the document: GET, HEAD, POST" in lines
    assert "ok    DELETE /api/things/0: 405 JSON, Allow: GET, HEAD" in lines


def test_a_server_that_never_answers_is_a_named_timeout():
    with socket.create_server(("127.0.0.1", 0)) as silent:  # listens, never answers
        code, out = smoke(f"http://127.0.0.1:{silent.getsockname()[1]}", "--timeout", "0.5")
    assert code != 0
    assert "FAIL  GET /api/: timed out after 0.5 s (ReadTimeout)" in out


def test_https_to_a_plain_http_server_is_a_named_tls_error(fake_vercel):
    plain = fake_vercel(200, b"{}", "application/json")
    code, out = smoke(plain.url.replace("http://", "https://"))
    assert code != 0
    assert "FAIL  GET /api/: TLS error: " in out


def test_nothing_listening_is_a_failed_connection():
    code, out = smoke(f"http://127.0.0.1:{free_port()}")
    assert code != 0
    assert "FAIL  GET /api/: could not connect" in out


@pytest.mark.slow
def test_a_deployment_whose_items_take_a_signed_in_user_passes(tmp_path):
    """With AUTH_ISSUER set, a collection that takes a user's token answers 401 to a request
    without one: that is its check, not a failure."""
    with Issuer() as issuer:
        env = {"AUTH_ISSUER": issuer.url, "AUTH_AUDIENCE": issuer.audience}
        with dev_server(tmp_path / "server.log", env=env) as url:
            code, out = smoke(url)
    assert code == 0, out
    assert "ok    GET /api/items: 401 JSON, it takes a signed-in user's token" in out
    assert "ok    GET /api/status: 200 JSON, a list of " in out
