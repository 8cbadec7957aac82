"""`make smoke` against `make dev`'s server in each state, and against the answers Vercel gives
before a function runs: Deployment Protection, no function, no connection, TLS, a timeout."""

import os
import re
import socket
import subprocess
import sys

import pytest

from harness import ROOT
from harness.net import free_port
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


@pytest.mark.slow
def test_a_healthy_deployment_passes_every_check_including_the_writes(deployment):
    code, out = make_smoke(deployment("healthy"), "WRITE=1")
    assert code == 0, out
    lines = out.splitlines()
    assert [line[:6] for line in lines if line.startswith(("ok", "FAIL"))] == ["ok    "] * 11
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
def test_a_deployment_without_a_database_fails_on_health_with_the_fix(deployment):
    code, out = make_smoke(deployment("no_database"))
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
    assert out.splitlines()[-1] == "1 check(s) failed"


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
    api_lines = [line for line in out.splitlines() if re.match(r"\w+ +(GET|DELETE) /api/", line)]
    assert len(api_lines) == 6
    for line in api_lines:
        assert line.startswith("FAIL")
        assert (
            "HTTP 404, text/plain, not the function's JSON: the function was not detected" in line
        )
        assert "keep `app = ...` at the top level of `api/index.py`" in line


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
