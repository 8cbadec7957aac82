"""api/index.py: `app` for Vercel, `handler` for AWS Lambda, and a fallback that never raises."""

import ast
import inspect
import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import api.index
from api.index import create_handler
from backend.exceptions import SettingsError

SECRET = "hunter22-secret"


class _Exploding(types.ModuleType):
    """Stands in for backend.server: importing anything from it raises `error`."""

    def __init__(self, error: BaseException) -> None:
        super().__init__("backend.server")
        self._error = error

    def __getattr__(self, name: str) -> object:
        raise self._error


FAILURES = [
    ModuleNotFoundError("No module named 'missing_package'"),
    SyntaxError("invalid syntax"),
    RuntimeError(f"boom mongodb://admin:{SECRET}@db.example.com/"),
    SettingsError("Invalid configuration: MONGO_TIMEOUT_MS: Input should be a valid integer."),
    SystemExit(3),
]


@pytest.fixture(params=FAILURES, ids=lambda e: type(e).__name__)
def broken_backend(request, monkeypatch):
    monkeypatch.setitem(sys.modules, "backend.server", _Exploding(request.param))
    return request.param


def test_vercel_finds_app_as_a_plain_top_level_assignment():
    tree = ast.parse(Path(api.index.__file__).read_text())
    assigned = {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets}
    assert "app" in assigned


def test_handler_is_not_a_class_vercel_could_pick_instead_of_app():
    # Vercel's builder takes a top-level `handler` only when it is a class.
    assert inspect.isfunction(api.index.handler)


def test_app_is_the_backend_when_it_loads():
    from backend.server import app

    assert create_handler() is app
    assert isinstance(api.index.app, FastAPI)


def test_create_handler_never_raises(broken_backend):
    assert callable(create_handler())


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE", "PATCH"])
@pytest.mark.parametrize("path", ["/api/", "/api/status", "/anything/else"])
def test_the_fallback_answers_every_route_with_a_503_naming_the_cause(broken_backend, method, path):
    with TestClient(create_handler()) as client:
        response = client.request(method, path)
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/json"
    assert len(response.headers["x-request-id"]) == 32
    assert response.headers["x-content-type-options"] == "nosniff"
    detail = response.json()["detail"]
    assert detail.startswith(f"The backend failed to load: {type(broken_backend).__name__}")
    assert "logs" in response.json()["hint"]


def test_the_fallback_redacts_credentials(monkeypatch, capsys):
    monkeypatch.setitem(
        sys.modules, "backend.server", _Exploding(RuntimeError(f"mongodb://admin:{SECRET}@db/"))
    )
    with TestClient(create_handler()) as client:
        response = client.get("/api/")
    assert "mongodb://***@db/" in response.json()["detail"]
    assert SECRET not in response.text
    assert SECRET not in capsys.readouterr().err


def test_the_fallback_redacts_the_configured_url_even_when_unparseable(monkeypatch):
    url = f"mongodb://admin:{SECRET}"
    monkeypatch.setenv("MONGO_URL", url)
    monkeypatch.setitem(sys.modules, "backend.server", _Exploding(ValueError(f"bad {url}")))
    with TestClient(create_handler()) as client:
        assert SECRET not in client.get("/api/").text


def test_the_fallback_redacts_the_api_key(monkeypatch, capsys):
    key = f"api-key-{SECRET}-0123456789abcdef"
    monkeypatch.setenv("API_KEY", key)
    monkeypatch.setitem(sys.modules, "backend.server", _Exploding(RuntimeError(f"bad {key}")))
    with TestClient(create_handler()) as client:
        response = client.get("/api/")
    assert response.json()["detail"].endswith("RuntimeError: bad ***")
    assert SECRET not in capsys.readouterr().err


def test_the_fallback_names_a_short_api_key_without_garbling_its_message(monkeypatch):
    monkeypatch.setenv("API_KEY", "e")
    error = SettingsError("Invalid configuration: API_KEY: Value error, shorter than 32 characters")
    monkeypatch.setitem(sys.modules, "backend.server", _Exploding(error))
    with TestClient(create_handler()) as client:
        detail = client.get("/api/").json()["detail"]
    assert detail.endswith("API_KEY: Value error, shorter than 32 characters")


def test_the_fallback_logs_the_traceback(broken_backend, capsys):
    create_handler()
    err = capsys.readouterr().err
    assert "The backend failed to load" in err
    assert "Traceback (most recent call last)" in err
    assert type(broken_backend).__name__ in err


LAMBDA_EVENT = {
    "version": "2.0",
    "routeKey": "$default",
    "rawPath": "/api/",
    "rawQueryString": "",
    "headers": {"host": "abc.execute-api.eu-west-1.amazonaws.com", "x-forwarded-proto": "https"},
    "requestContext": {
        "http": {"method": "GET", "path": "/api/", "protocol": "HTTP/1.1", "sourceIp": "1.2.3.4"},
        "requestId": "r1",
        "stage": "$default",
    },
    "isBase64Encoded": False,
}


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """`code` in a fresh interpreter in the project, as a cold Lambda runs the entrypoint (and
    so the event loop Mangum makes for its process ends with it)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(api.index.__file__).parent.parent,
        env={**os.environ, "MONGO_URL": "", "MONGODB_URI": ""},
    )


def test_handler_serves_the_app_to_aws_lambda():
    code = (
        "import json, sys, api.index\n"
        f"response = api.index.handler({LAMBDA_EVENT!r}, None)\n"
        "print(json.dumps([response['statusCode'], response['body']]))"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [200, '{"message":"Hello World"}']


def test_a_missing_mangum_leaves_app_working_and_handler_explaining():
    code = (
        "import sys\n"
        "sys.modules['mangum'] = None\n"
        "import api.index\n"
        "from fastapi import FastAPI\n"
        "assert isinstance(api.index.app, FastAPI)\n"
        "api.index.handler({}, None)"
    )
    result = run_python(code)
    assert result.returncode == 1
    assert re.search(
        r"RuntimeError: The AWS Lambda handler cannot run: ModuleNotFoundError.*requirements\.txt",
        result.stderr,
    )


def test_import_leaves_the_driver_and_mangum_for_later():
    # What the first database request or Lambda's first call needs stays out of the cold start.
    lazy = ("motor", "pymongo", "mongomock_motor", "mangum")
    code = f"import sys, api.index; print([m for m in {lazy!r} if m in sys.modules])"
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_backend_imports_without_garbage_collection_and_stays_frozen():
    # The collector's passes over the import's long-lived objects cost every cold start.
    code = """
import gc, json, sys
collections = []  # those that start once FastAPI, which only the backend imports, is loading
def count(phase, info):
    if phase == "start" and "fastapi" in sys.modules:
        collections.append(info["generation"])
gc.callbacks.append(count)
import api.index
print(json.dumps([len(collections), gc.isenabled(), gc.get_freeze_count()]))
"""
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    collections, enabled, frozen = json.loads(result.stdout)
    assert collections == 0
    assert enabled  # collection resumes for what requests make
    assert frozen > 50_000  # the backend's objects, left out of every later collection
