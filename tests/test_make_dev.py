"""`make dev` itself, as a deployment would run (VERCEL=1, no MONGO_URL, no API_KEY): it starts,
serves the page at `/` with vercel.json's headers, and the API under `/api/`, whose health names
the cause and whose writes are refused naming API_KEY."""

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from harness import ROOT
from harness.net import free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def make_dev_as_on_vercel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("make-dev") / "make-dev.log"
    port = free_port()
    env = {**os.environ, "VERCEL": "1", "PORT": str(port)}
    env.pop("MONGO_URL", None)
    # Its own process group: make, uvicorn's reloader and its worker stop together.
    with log.open("wb") as output:
        process = subprocess.Popen(
            ["make", "dev"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while process.poll() is None and time.monotonic() < deadline:
            try:
                httpx.get(f"{url}/api/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert process.poll() is None, log.read_text()
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def test_the_api_answers(make_dev_as_on_vercel):
    response = httpx.get(f"{make_dev_as_on_vercel}/api/")
    assert response.status_code == 200
    assert response.json() == {"message": "Hello World"}


def test_health_is_the_503_naming_mongo_url(make_dev_as_on_vercel):
    response = httpx.get(f"{make_dev_as_on_vercel}/api/health")
    assert response.status_code == 503
    assert response.json()["detail"].startswith("MONGO_URL is not set, nor MONGODB_URI.")


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/status"), ("POST", "/api/items"), ("DELETE", "/api/items/x")],
)
def test_writes_are_refused_naming_api_key(make_dev_as_on_vercel, method, path):
    response = httpx.request(method, f"{make_dev_as_on_vercel}{path}", json={"title": "t"})
    assert response.status_code == 403
    assert response.json()["detail"].startswith("Writes are off: this deployment has no API_KEY.")
    assert "vercel env add API_KEY" in response.json()["detail"]


def test_the_page_is_served_at_the_root_with_vercel_json_s_headers(make_dev_as_on_vercel):
    response = httpx.get(f"{make_dev_as_on_vercel}/")
    assert response.status_code == 200
    assert response.text == (ROOT / "public" / "index.html").read_text()
    (rule,) = json.loads((ROOT / "vercel.json").read_text())["headers"]
    for header in rule["headers"]:
        assert response.headers[header["key"]] == header["value"]


def test_the_api_does_not_get_the_page_s_headers(make_dev_as_on_vercel):
    response = httpx.get(f"{make_dev_as_on_vercel}/api/docs")
    assert response.status_code == 200
    assert "content-security-policy" not in response.headers
