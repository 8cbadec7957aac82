"""api/index.py: `app` for Vercel, `handler` for AWS Lambda, and a fallback that never raises."""

import ast
import inspect
import json
import os
import re
import shutil
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
from backend.settings import Settings
from harness import ROOT

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


@pytest.fixture(params=["redact.py", "stdlib"])
def redaction(request, monkeypatch):
    """The fallback masks with backend/redact.py, or with its own lines when that cannot load
    (backend/ itself missing from the bundle, or broken)."""
    if request.param == "stdlib":
        monkeypatch.setitem(sys.modules, "backend.redact", None)
    return request.param


def fallback_output(monkeypatch, capsys, error: BaseException) -> str:
    """What the fallback shows for a backend failing with `error`: its 503 and its log."""
    monkeypatch.setitem(sys.modules, "backend.server", _Exploding(error))
    with TestClient(create_handler()) as client:
        response = client.get("/api/")
    assert response.status_code == 503
    return response.text + capsys.readouterr().err


def test_the_fallback_masks_the_password_of_any_url(redaction, monkeypatch, capsys):
    error = RuntimeError(f"boom mongodb://admin:{SECRET}@db.example.com/")
    shown = fallback_output(monkeypatch, capsys, error)
    assert "mongodb://***@db.example.com/" in shown
    assert SECRET not in shown


# Each secret variable's value, shaped so that nothing but masking that value hides it: no
# `user:password@` for the URL rule to find (an unparseable connection string, a bearer key).
SECRET_VALUES = {
    "MONGO_URL": f"mongodb://admin:{SECRET}",
    "MONGODB_URI": f"mongodb+srv://admin:{SECRET}",
    "API_KEY": SECRET,
}


@pytest.mark.parametrize("variable", SECRET_VALUES)
def test_the_fallback_masks_the_value_of_each_secret_variable(
    variable, redaction, monkeypatch, capsys
):
    value = SECRET_VALUES[variable]
    monkeypatch.setenv(variable, value)
    shown = fallback_output(monkeypatch, capsys, ValueError(f"{variable} is bad: {value}"))
    assert f"{variable} is bad: ***" in shown
    assert SECRET not in shown


def test_every_secret_setting_is_masked_by_the_fallback():
    # Settings may be what failed to load, so the fallback reads the secrets from the
    # environment by name: a new SecretStr setting must be named there too.
    secret_settings = {
        name.upper()
        for name, field in Settings.model_fields.items()
        if "SecretStr" in str(field.annotation)
    }
    assert secret_settings <= set(api.index.SECRET_VARIABLES)


def test_the_fallback_shows_the_whole_cause_but_a_password(broken_backend, redaction, monkeypatch):
    with TestClient(create_handler()) as client:
        detail = client.get("/api/").json()["detail"]
    cause = f"{type(broken_backend).__name__}: {broken_backend}".replace(f"admin:{SECRET}@", "***@")
    assert detail == f"The backend failed to load: {cause}"


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
        r"RuntimeError: The AWS Lambda handler cannot run: ModuleNotFoundError.*pyproject\.toml",
        result.stderr,
    )


def test_import_leaves_the_driver_and_mangum_for_later():
    # What the first database request or Lambda's first call needs stays out of the cold start.
    lazy = ("motor", "pymongo", "mongomock_motor", "mangum")
    code = f"import sys, api.index; print([m for m in {lazy!r} if m in sys.modules])"
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_import_builds_no_response_body_validator():
    # Each is built when the first response of its kind is sent: a cold start, whose first
    # request needs at most one, skips the others' (backend/models.py, `Output`).
    code = """
import api.index
from backend.models import Output
def kinds(model):
    for kind in model.__subclasses__():
        yield kind
        yield from kinds(kind)
print([kind.__name__ for kind in kinds(Output) if kind.__pydantic_complete__])
"""
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    built = result.stdout.strip()
    assert built == "[]", f"built while the app imports, at every cold start: {built}"


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


# Run by hand, as the usual FUNCTION_INVOCATION_FAILED write-up says, and as a self-check.


def run_entrypoint(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`python <args>` in `cwd`, as on a fresh clone: no PYTHONPATH, no connection string."""
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    environment.update({"MONGO_URL": "", "MONGODB_URI": "", **env})
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env=environment,
    )


def test_importing_index_from_the_api_folder_loads_the_backend():
    code = "import index; print('Handler:', index.handler)"
    result = run_entrypoint(["-c", code], ROOT / "api")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Handler: <function handler at ")
    assert "The backend failed to load" not in result.stderr
    assert "details withheld" not in result.stdout + result.stderr


def test_the_self_check_lists_the_routes_the_database_and_the_driver():
    result = run_entrypoint(["api/index.py"], ROOT)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "api/index.py: the backend loaded."
    listed = {line.split()[-1]: line.rsplit(None, 1)[0].strip() for line in lines[1:-1]}
    document = TestClient(api.index.app).get("/api/openapi.json").json()
    for path, operations in document["paths"].items():
        assert listed[path] == ", ".join(sorted(method.upper() for method in operations))
    assert {"/api/docs", "/api/openapi.json"} <= set(listed)
    assert lines[-1] == "database: embedded, driver: mongomock"


def test_the_self_check_names_the_connection_string_s_variable_never_its_value():
    url = f"mongodb://admin:{SECRET}@db.example.com/shop"
    result = run_entrypoint(["api/index.py"], ROOT, MONGODB_URI=url, MONGO_DRIVER="pymongo")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "database: mongodb from MONGODB_URI, driver: pymongo"
    assert SECRET not in result.stdout + result.stderr


def test_the_self_check_fails_naming_an_invalid_setting():
    result = run_entrypoint(["api/index.py"], ROOT, MONGO_TIMEOUT_MS="abc")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback (most recent call last)" in result.stderr
    assert "SettingsError: Invalid configuration: MONGO_TIMEOUT_MS" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("api/index.py: the backend did not load")


def test_the_self_check_fails_naming_a_broken_server_module_and_masks_its_secret(tmp_path):
    for folder in ("api", "backend"):
        shutil.copytree(
            ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    server = tmp_path / "backend" / "server.py"
    server.write_text(
        server.read_text() + f'\nraise RuntimeError("boom mongodb://admin:{SECRET}@db/")\n'
    )
    result = run_entrypoint(["api/index.py"], tmp_path)
    assert result.returncode == 1
    assert 'backend/server.py", line' in result.stderr
    assert "RuntimeError: boom mongodb://***@db/" in result.stderr
    assert SECRET not in result.stderr
    assert result.stderr.splitlines()[-1].startswith("api/index.py: the backend did not load")
