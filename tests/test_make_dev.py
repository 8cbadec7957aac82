"""`make dev` itself: as a deployment would run (VERCEL=1, no MONGO_URL, no API_KEY) it starts,
serves the page at `/` with vercel.json's headers, and the API under `/api/`, whose health names
the cause and whose writes are refused naming API_KEY; locally, on a copy of the project, its
development database keeps what it stored across a reload and a kill, until FRESH=1."""

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from harness import ROOT
from harness.dev_server import stop
from harness.net import free_port

pytestmark = pytest.mark.slow


def make_dev(
    log: Path, project: Path = ROOT, *arguments: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """`make dev` in `project`, answering: its process (a group of its own, so make, uvicorn's
    reloader and its worker stop together) and its URL. Its output is appended to `log`."""
    port = free_port()
    environment = {**os.environ, "PORT": str(port), **(env or {})}
    environment.pop("MONGO_URL", None)
    with log.open("ab") as output:
        process = subprocess.Popen(
            ["make", "dev", *arguments],
            cwd=project,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    if not answers(url, process):
        stop(process)
        pytest.fail(f"make dev did not answer:\n{log.read_text()}")
    return process, url


def answers(url: str, process: subprocess.Popen[bytes], seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while process.poll() is None and time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/api/", timeout=1)
            return True
        except httpx.TransportError:
            time.sleep(0.2)
    return False


def eventually(condition: Callable[[], bool], seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


@pytest.fixture(scope="module")
def make_dev_as_on_vercel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("make-dev") / "make-dev.log"
    process, url = make_dev(log, env={"VERCEL": "1"})
    try:
        yield url
    finally:
        stop(process)


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


# The development database, on a copy of the project: `make dev` keeps it in the copy's
# .data/embedded.json (git-ignored), so this test never touches the developer's.


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    local = (".git", ".venv", ".tools", ".data", ".env*", ".vercel", "*_cache", "__pycache__")
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(*local))
    (copy / ".venv").symlink_to(ROOT / ".venv")  # installed: make does not build it again
    return copy


def test_the_development_database_is_git_ignored():
    ignored = subprocess.run(["git", "check-ignore", "-q", ".data/embedded.json"], cwd=ROOT)
    assert ignored.returncode == 0


def test_make_dev_keeps_its_data_across_a_reload_and_a_kill_until_fresh_1(project, tmp_path):
    data_file = (project / ".data" / "embedded.json").resolve()
    log = tmp_path / "make-dev.log"

    def starts() -> int:
        """How many times a worker has read the data file: once per start or reload."""
        return log.read_text().count(f"kept in {data_file}.")

    def reloaded() -> bool:
        # A saved source file makes uvicorn's reloader start a new worker (saved again until
        # it does: the reloader ignores a change made before its first look).
        os.utime(project / "backend" / "routes" / "root.py")
        return starts() == 2

    process, url = make_dev(log, project)
    try:
        assert starts() == 1, log.read_text()
        item = httpx.post(f"{url}/api/items", json={"title": "kept"}).json()
        assert eventually(reloaded), log.read_text()
        assert answers(url, process)
        assert httpx.get(f"{url}/api/items").json() == [item]
        check = httpx.post(f"{url}/api/status", json={"client_name": "kept"})
    finally:
        stop(process, signal.SIGKILL)  # right after the 201
    assert check.status_code == 201

    process, url = make_dev(log, project)
    try:
        assert httpx.get(f"{url}/api/items").json() == [item]
        assert httpx.get(f"{url}/api/status").json() == [check.json()]
    finally:
        stop(process)

    process, url = make_dev(log, project, "FRESH=1")
    try:
        assert httpx.get(f"{url}/api/items").json() == []
        assert httpx.get(f"{url}/api/status").json() == []
    finally:
        stop(process)
    assert "rm -f .data/embedded.json" in log.read_text()
