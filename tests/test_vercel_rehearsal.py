"""The deploy rehearsal: `vercel build` with Vercel's CLI, then the built function under
Vercel's Python runtime, cold, with only its bundle, in each way a deployment can go wrong; and
every route its own OpenAPI document lists, walked (harness.openapi) as `make smoke` walks it."""

import json
import shutil
import socket
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path

import pytest
from mockupdb import OpMsg
from packaging.utils import canonicalize_name

from harness import ROOT
from harness.issuer import Issuer
from harness.mongod import Mongod
from harness.openapi import collections, expected_allow, parse_allow, paths, unserved_request
from harness.pins import bytecode_suffix, locked_runtime
from harness.rehearsal import (
    TOOLS,
    Invocation,
    build,
    builder_version,
    invoke,
    max_duration,
    pinned_cli_version,
    uploaded_files,
)

pytestmark = pytest.mark.slow

SECRET = "Rehearsal-S3cret-Pw"
API_KEY = "rehearsal-key-0123456789abcdefghijklmnopqrstuvwxyz"
TIMEOUT_MS = 1000
SLACK_S = 4  # cold imports of Motor and pymongo on 2 shared cores
# A function that hangs fails here as on Vercel.
MAX_DURATION_S = max_duration(ROOT)
JSON_HEADERS = {"content-type": "application/json"}
SAFE_HEADERS = {"x-content-type-options": "nosniff", "cache-control": "no-store"}


def get(path: str) -> dict[str, object]:
    return {"method": "GET", "path": path}


def post_status(authorization: str | None = None) -> dict[str, object]:
    headers = JSON_HEADERS | ({"authorization": authorization} if authorization else {})
    return {
        "method": "POST",
        "path": "/api/status",
        "headers": headers,
        "body": json.dumps({"client_name": "x"}),
    }


class Rehearsal:
    """One cold invocation; `rehearsal["name"]` is the response to the request named so."""

    def __init__(self, function: Path, requests: dict[str, dict], env: dict[str, str]) -> None:
        self.names = list(requests)
        self.invocation: Invocation = invoke(
            function, list(requests.values()), env, timeout=MAX_DURATION_S
        )

    def __getitem__(self, name: str) -> dict:
        return self.invocation.responses[self.names.index(name)]

    def __contains__(self, name: str) -> bool:
        return name in self.names

    @property
    def responses(self) -> list[dict]:
        return self.invocation.responses

    @property
    def stderr(self) -> str:
        return self.invocation.stderr

    def everything(self) -> str:
        """Every response's headers and body, and the log: where a secret must not appear."""
        shown = [json.dumps(r["headers"]) + r["body"] for r in self.responses]
        return "\n".join([*shown, self.stderr, self.invocation.stdout])


def insert_in_server(line: str) -> Callable[[Path], None]:
    """A patch putting `line` at the top of backend/server.py, right after its docstring."""

    def patch(src: Path) -> None:
        server = src / "backend" / "server.py"
        text = server.read_text()
        end = text.index('"""', 3) + 3
        server.write_text(f"{text[:end]}\n{line}\n{text[end:]}")

    return patch


LOCAL_TOOL_FOLDERS = [".venv", ".tools", ".pytest_cache", ".ruff_cache", ".data"]


def add_local_tool_folders(src: Path) -> None:
    """What a developer's folder also holds (`build` does not copy the real, large ones)."""
    for stub in (
        ".venv/pyvenv.cfg",
        ".tools/package.json",
        f".tools/vercel-{pinned_cli_version()}",
        ".pytest_cache/v/cache/lastfailed",
        ".ruff_cache/CACHEDIR.TAG",
        ".data/embedded.json",  # `make dev`'s development database
    ):
        (src / stub).parent.mkdir(parents=True, exist_ok=True)
        (src / stub).write_text("stub\n")


@pytest.fixture(scope="module")
def function(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(ROOT, tmp_path_factory.mktemp("app"), add_local_tool_folders)


def broken(function: Path, work: Path, change: Callable[[Path], None]) -> Path:
    """A copy of the built function with `change` made to its sources: what a deployment with a
    broken backend runs, without another build. Their bytecode goes: the builder's is
    unchecked-hash, used whatever the source says."""
    copy = work / "function"
    shutil.copytree(function, copy, symlinks=True)
    change(copy)
    for stale in (copy / "backend" / "__pycache__").glob("server.*.pyc"):
        stale.unlink()
    return copy


@pytest.fixture(scope="module")
def raising_function(function: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    patch = insert_in_server(
        'raise RuntimeError("boom: mongodb://admin:RaiseSecret@db.example.com/")'
    )
    return broken(function, tmp_path_factory.mktemp("raising"), patch)


@pytest.fixture(scope="module")
def missing_package_function(function: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    patch = insert_in_server("import this_package_does_not_exist")
    return broken(function, tmp_path_factory.mktemp("missing-package"), patch)


def leave_out_the_backend(src: Path) -> None:
    """vercel.json's excludeFiles also names backend/: the bundle has api/ and no backend."""
    config = json.loads((src / "vercel.json").read_text())
    function = config["functions"]["api/index.py"]
    function["excludeFiles"] = function["excludeFiles"].removesuffix("}") + ",backend/**}"
    (src / "vercel.json").write_text(json.dumps(config))


@pytest.fixture(scope="module")
def backendless_function(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built, not patched: the builder itself leaves backend/ out, as a wrong excludeFiles would."""
    return build(ROOT, tmp_path_factory.mktemp("backendless"), leave_out_the_backend)


@pytest.fixture(scope="module")
def closed_port() -> Iterator[int]:
    """A port bound but never listened on: a connection to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


# No MONGO_URL: the app serves, the database routes say what to set.

NO_DATABASE = {
    "root": get("/api/"),
    "docs": get("/api/docs"),
    "openapi": get("/api/openapi.json"),
    "health": get("/api/health"),
    "list": get("/api/status"),
    "create": post_status(),
    "unknown": get("/api/nope"),
}
DATABASE_ROUTES = ["health", "list"]


@pytest.fixture(scope="module")
def no_database(function: Path) -> Rehearsal:
    return Rehearsal(function, NO_DATABASE, {"VERCEL": "1"})


def test_the_backend_loads(no_database):
    assert "The backend failed to load" not in no_database.stderr


def test_root_answers_hello_world(no_database):
    assert no_database["root"]["status"] == 200
    assert no_database["root"]["json"] == {"message": "Hello World"}


def test_docs_are_served_as_html(no_database):
    assert no_database["docs"]["status"] == 200
    assert no_database["docs"]["headers"]["content-type"].startswith("text/html")
    assert "swagger" in no_database["docs"]["body"].lower()


def test_openapi_lists_the_status_route(no_database):
    assert no_database["openapi"]["status"] == 200
    assert "/api/status" in no_database["openapi"]["json"]["paths"]


@pytest.mark.parametrize("name", DATABASE_ROUTES)
def test_database_routes_answer_503_naming_mongo_url(no_database, name):
    response = no_database[name]
    assert response["status"] == 503
    detail = response["json"]["detail"]
    assert "MONGO_URL is not set" in detail
    assert "Environment Variables" in detail  # where to set it on Vercel
    assert response["seconds"] < SLACK_S  # no database wait: far below any timeout


def test_a_deployment_without_api_key_refuses_writes_naming_it_before_the_database(no_database):
    response = no_database["create"]
    assert response["status"] == 403
    assert response["json"]["detail"].startswith("Writes are off: this deployment has no API_KEY")
    assert "vercel env add API_KEY" in response["json"]["detail"]
    assert response["seconds"] < SLACK_S


def test_the_log_says_writes_are_off(no_database):
    lines = [json.loads(line) for line in no_database.stderr.splitlines() if line.startswith("{")]
    errors = [line["message"] for line in lines if line["level"] == "error"]
    assert any(message.startswith("API_KEY is not set: writes are off") for message in errors)


def test_an_unknown_route_is_a_json_404(no_database):
    assert no_database["unknown"]["status"] == 404
    assert no_database["unknown"]["json"] == {"detail": "Not Found"}


def test_every_response_has_a_request_id(no_database):
    assert all(r["headers"].get("x-request-id") for r in no_database.responses)


def test_the_log_says_mongo_url_is_not_set(no_database):
    lines = [json.loads(line) for line in no_database.stderr.splitlines() if line.startswith("{")]
    errors = [line["message"] for line in lines if line["level"] == "error"]
    assert any("MONGO_URL is not set" in message for message in errors)


# The connection string names a server nobody answers on: set by hand as MONGO_URL, or as
# MONGODB_URI by the Marketplace's MongoDB Atlas integration.


@pytest.fixture(scope="module", params=["MONGO_URL", "MONGODB_URI"])
def unreachable(request, function: Path, closed_port: int) -> Rehearsal:
    env = {
        "VERCEL": "1",
        request.param: f"mongodb://admin:{SECRET}@127.0.0.1:{closed_port}/shop?retryWrites=true",
        "MONGO_TIMEOUT_MS": str(TIMEOUT_MS),
    }
    return Rehearsal(function, {"root": get("/api/"), "health": get("/api/health")}, env)


def test_root_answers_without_the_database(unreachable):
    assert unreachable["root"]["status"] == 200


def test_health_answers_503_after_the_timeout_naming_the_variable_in_use(request, unreachable):
    health = unreachable["health"]
    assert health["status"] == 503
    detail = health["json"]["detail"]
    assert f"did not answer within MONGO_TIMEOUT_MS={TIMEOUT_MS}" in detail
    assert f"{request.node.callspec.params['unreachable']} names the right host" in detail
    assert "not set" not in detail
    assert health["seconds"] < TIMEOUT_MS / 1000 + SLACK_S


def test_an_unreachable_database_leaks_no_password(unreachable):
    assert SECRET not in unreachable.everything()


# MONGO_URL does not parse.


@pytest.fixture(scope="module")
def malformed(function: Path) -> Rehearsal:
    env = {
        "VERCEL": "1",
        "MONGO_URL": f"mongodb://admin:{SECRET}@db.example.com:notaport/",
        "MONGO_TIMEOUT_MS": str(TIMEOUT_MS),
    }
    requests = {"root": get("/api/"), "docs": get("/api/docs"), "health": get("/api/health")}
    return Rehearsal(function, requests, env)


def test_a_malformed_url_leaves_root_and_docs_up(malformed):
    assert malformed["root"]["status"] == 200
    assert malformed["docs"]["status"] == 200


def test_a_malformed_url_answers_503_saying_so(malformed):
    assert malformed["health"]["status"] == 503
    detail = malformed["health"]["json"]["detail"]
    assert "MONGO_URL is not a valid MongoDB connection string" in detail


def test_a_malformed_url_leaks_no_password(malformed):
    assert SECRET not in malformed.everything()


# Every route in the function's own document, against a database that answers: what a route a
# user adds must do without a test of its own.


@pytest.fixture(scope="module")
def document(no_database: Rehearsal) -> dict:
    """The OpenAPI document the built function serves."""
    return no_database["openapi"]["json"]


@pytest.fixture(scope="module")
def walk(function: Path, mongod: Mongod, document: dict) -> Rehearsal:
    requests = {f"GET {path}": get(path) for path in collections(document)}
    for path, methods in paths(document).items():
        if (unserved := unserved_request(path, methods)) is not None:
            method, target = unserved
            requests[f"405 {path}"] = {"method": method, "path": target}
    env = {"VERCEL": "1", "MONGO_URL": mongod.url("walk"), "MONGO_TIMEOUT_MS": "5000"}
    return Rehearsal(function, requests, env)


def test_every_collection_answers_200_json_with_the_safe_headers(document, walk):
    listed = collections(document)
    assert listed  # a walk that finds no collection checks none
    answers = {}
    for path in listed:
        response = walk[f"GET {path}"]
        safe = {name: response["headers"].get(name) for name in SAFE_HEADERS}
        answers[path] = (
            response["status"],
            response["headers"].get("content-type"),
            type(response["json"]),
            safe,
            bool(response["headers"].get("x-request-id")),
        )
    expected = (200, "application/json", list, SAFE_HEADERS, True)
    assert answers == dict.fromkeys(listed, expected)


def test_every_path_refuses_a_method_it_does_not_serve_with_405_listing_its_methods(document, walk):
    served = {path: methods for path, methods in paths(document).items() if f"405 {path}" in walk}
    assert served
    answers = {}
    for path in served:
        response = walk[f"405 {path}"]
        answers[path] = (response["status"], parse_allow(response["headers"].get("allow")))
    assert answers == {path: (405, expected_allow(methods)) for path, methods in served.items()}


# The backend cannot load: the fallback app answers 503 with the cause on every route.

EVERY_KIND_OF_REQUEST = {
    "root": get("/api/"),
    "create": post_status(),
    "docs": get("/api/docs"),
    "delete": {"method": "DELETE", "path": "/api/anything"},
}


def assert_all_503(rehearsal: Rehearsal, *causes: str) -> None:
    for response in rehearsal.responses:
        assert response["status"] == 503
        assert response["headers"]["content-type"] == "application/json"
        detail = response["json"]["detail"]
        assert detail.startswith("The backend failed to load")
        for cause in causes:
            assert cause in detail


def test_an_invalid_setting_answers_503_naming_it(function):
    env = {"VERCEL": "1", "MONGO_TIMEOUT_MS": "abc"}
    assert_all_503(
        Rehearsal(function, EVERY_KIND_OF_REQUEST, env), "SettingsError", "MONGO_TIMEOUT_MS"
    )


@pytest.fixture(scope="module")
def raising(raising_function: Path) -> Rehearsal:
    return Rehearsal(raising_function, EVERY_KIND_OF_REQUEST, {"VERCEL": "1"})


def test_a_backend_raising_at_import_answers_503_everywhere(raising):
    assert_all_503(raising, "RuntimeError: boom")


def test_a_backend_raising_at_import_leaks_no_password(raising):
    assert "RaiseSecret" not in raising.everything()


def test_a_backend_raising_at_import_logs_the_traceback(raising):
    assert "Traceback (most recent call last)" in raising.stderr
    assert "RuntimeError: boom" in raising.stderr


def test_a_missing_package_answers_503_naming_it(missing_package_function):
    rehearsal = Rehearsal(missing_package_function, {"root": get("/api/")}, {"VERCEL": "1"})
    assert_all_503(rehearsal, "ModuleNotFoundError", "this_package_does_not_exist")


def test_a_bundle_without_the_backend_answers_503_naming_the_cause(backendless_function):
    # backend/redact.py is missing too: the entrypoint masks by itself, and withholds nothing.
    rehearsal = Rehearsal(backendless_function, {"root": get("/api/")}, {"VERCEL": "1"})
    assert not (backendless_function / "backend").exists()
    assert_all_503(rehearsal, "ModuleNotFoundError: No module named 'backend'")


# What is deployed, and what is not.

BUNDLED = [
    "api/index.py",
    "backend/server.py",
    "_vendor/fastapi",
    "_vendor/motor",
    "_vendor/pymongo",
    "_vendor/mangum",
    "_vendor/pydantic_settings",
    "_vendor/jwt",
    "_vendor/cryptography",
]
LEFT_OUT = [
    "tests",
    "scripts",
    "docs",
    ".env",
    ".env.local",
    ".envrc",
    *LOCAL_TOOL_FOLDERS,
    "README.md",
    "uv.lock",  # read by the build, not by the function
    "requirements.txt",
    "_vendor/mongomock_motor",
    "_vendor/mongomock",
    "_vendor/pytest",
]


@pytest.mark.parametrize("path", BUNDLED)
def test_the_bundle_holds(function, path):
    assert (function / path).exists()


@pytest.mark.parametrize("path", LEFT_OUT)
def test_the_bundle_leaves_out(function, path):
    assert not (function / path).exists()


def test_no_bundled_file_holds_the_local_env_secret(function):
    leaking = [
        p for p in function.rglob("*") if p.is_file() and b"LOCAL-ENV-SECRET" in p.read_bytes()
    ]
    assert leaking == []


def test_only_index_html_is_served_statically(function):
    static = function.parent / "src" / ".vercel" / "output" / "static"
    assert [p.relative_to(static) for p in static.rglob("*")] == [Path("index.html")]


def test_the_function_runs_for_vercel_json_s_max_duration_despite_the_fastapi_preset(function):
    config = json.loads((function / ".vc-config.json").read_text())
    assert config["maxDuration"] == MAX_DURATION_S


def test_the_function_is_api_index_despite_the_fastapi_preset(function):
    src = function.parent / "src"
    assert json.loads((src / ".vercel" / "project.json").read_text())["settings"] == {
        "framework": "fastapi"
    }
    functions = src / ".vercel" / "output" / "functions"
    assert sorted(str(p.relative_to(functions)) for p in functions.rglob("*.func")) == [
        "api/index.func"
    ]


# What `vercel deploy` uploads for the remote build, as the pinned CLI lists it: .vercelignore
# (which `vercel build` does not read) keeps the secrets and the local tool folders on this
# machine, and leaves behind every folder the function does not hold.

SECRETS = [".env", ".env.local", ".envrc"]  # what `build` writes into the copy


@pytest.fixture(scope="module")
def uploaded(function: Path) -> list[str]:
    return uploaded_files(function.parent / "src")


def test_vercel_deploy_uploads_no_secret_and_no_local_tool_folder(function, uploaded):
    kept_here = [*SECRETS, *LOCAL_TOOL_FOLDERS, ".vercel"]
    assert all((function.parent / "src" / name).exists() for name in kept_here)
    assert [path for path in uploaded if path.split("/")[0] in kept_here] == []


def bundled_project_files(function: Path) -> set[str]:
    """The project's own files in the function (its source, requirements, settings)."""
    config = json.loads((function / ".vc-config.json").read_text())
    return {
        source
        for source in config["filePathMap"].values()
        if "__pycache__" not in source and (ROOT / source).is_file()
    }


def test_vercel_deploy_uploads_every_file_the_build_reads(function, uploaded):
    read_by_the_build = {"public/index.html", "uv.lock", "pyproject.toml", ".python-version"}
    needed = bundled_project_files(function) | read_by_the_build
    assert {"api/index.py", "backend/server.py", "vercel.json"} <= needed
    assert sorted(needed - set(uploaded)) == []


def test_vercel_deploy_uploads_no_folder_the_function_leaves_out(function, uploaded):
    held = {path.split("/")[0] for path in bundled_project_files(function) if "/" in path}
    folders = {path.split("/")[0] for path in uploaded if "/" in path}
    assert folders == held | {"public"}, "list in .vercelignore each folder the build never reads"


# What is tested is what deploys: the builder installs uv.lock as it is, so the function holds
# the lock's runtime packages at its versions, the ones .venv gave the tests; and the builder is
# the one asked for (the CLI's own, or the newest under `make rehearse-latest`).

BUILDER_ADDS = {"vercel-runtime", "pip"}  # its runtime, and the pip its build venv is seeded with


def our_distributions(function: Path) -> dict[str, str]:
    """`{canonical name: version}` of the distributions in the function's `_vendor`, but the
    builder's own (checked there)."""
    found = [metadata.PathDistribution(info) for info in (function / "_vendor").glob("*.dist-info")]
    bundled = {canonicalize_name(dist.metadata["Name"]): dist.version for dist in found}
    return {name: version for name, version in bundled.items() if name not in BUILDER_ADDS}


def test_the_builder_installs_the_lock_as_it_is(function):
    log = (function.parent / "build.log").read_text()
    assert "Installing required dependencies from uv.lock..." in log


def test_the_function_holds_exactly_the_lock_s_runtime_packages(function):
    assert our_distributions(function) == locked_runtime()


def test_the_function_s_packages_are_the_venv_s(function):
    bundled = our_distributions(function)
    assert {name: metadata.version(name) for name in bundled} == bundled


def test_the_build_used_the_builder_in_tools(function):
    builds = json.loads((function.parent / "src/.vercel/output/builds.json").read_text())
    (python,) = [b for b in builds["builds"] if b["use"] == "@vercel/python"]
    package = Path(python["requirePath"]).parent.parent / "package.json"
    assert package.is_relative_to(TOOLS)
    assert json.loads(package.read_text())["version"] == builder_version()


# vercel.json's build.env sets VERCEL_PYTHON_COMPILEALL=1, a build environment variable of
# Vercel's Python builder: the function ships bytecode, about half the cold start
# (docs/performance.md; `make bench`). `build()` applies build.env as `vercel deploy` does, so every
# scenario above runs on that build.


def test_the_default_build_ships_bytecode(function):
    assert (function / "backend" / "__pycache__" / f"server{bytecode_suffix()}").is_file()
    assert list((function / "_vendor" / "fastapi" / "__pycache__").glob(f"*{bytecode_suffix()}"))


def test_the_default_build_serves_from_its_bytecode(function):
    # PYTHONVERBOSE names the file each module's code comes from: the .pyc, not the source.
    rehearsal = Rehearsal(function, {"root": get("/api/")}, {"VERCEL": "1", "PYTHONVERBOSE": "1"})
    assert rehearsal["root"]["status"] == 200
    loaded = [line for line in rehearsal.stderr.splitlines() if "code object from" in line]
    for module in ("backend/__pycache__/server", "fastapi/__pycache__/routing"):
        assert any(f"{module}{bytecode_suffix()}" in line for line in loaded), module


# Fluid compute: one instance serves many requests at once, on one event loop.

CONCURRENT = 16
DRIVERS = ["motor", "pymongo"]


def everything_at_once(function: Path, requests: list[dict], env: dict[str, str]) -> Invocation:
    return invoke(function, requests, env, timeout=MAX_DURATION_S, concurrent=True)


def log_lines(invocation: Invocation) -> list[dict]:
    return [json.loads(line) for line in invocation.stderr.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module", params=DRIVERS)
def fluid_unreachable(request, function: Path, closed_port: int) -> Invocation:
    env = {
        "VERCEL": "1",
        "MONGO_URL": f"mongodb://admin:{SECRET}@127.0.0.1:{closed_port}/",
        "MONGO_TIMEOUT_MS": str(TIMEOUT_MS),
        "MONGO_DRIVER": request.param,
    }
    requests = [get("/api/health")] * CONCURRENT + [get("/api/")] * 4
    return everything_at_once(function, requests, env)


def test_concurrent_requests_to_an_unreachable_database_wait_in_parallel(fluid_unreachable):
    health = fluid_unreachable.responses[:CONCURRENT]
    assert [r["status"] for r in health] == [503] * CONCURRENT
    assert all("did not answer within" in r["json"]["detail"] for r in health)
    # Together within about one timeout, not sixteen: nothing queues behind another's wait.
    assert max(r["seconds"] for r in health) < TIMEOUT_MS / 1000 + SLACK_S


def test_the_api_root_answers_fast_while_database_requests_wait(fluid_unreachable):
    health, root = (
        fluid_unreachable.responses[:CONCURRENT],
        fluid_unreachable.responses[CONCURRENT:],
    )
    assert [r["status"] for r in root] == [200] * len(root)
    assert max(r["seconds"] for r in root) < min(r["seconds"] for r in health)


def test_concurrent_failures_log_no_traceback_and_no_loop_error(fluid_unreachable):
    assert "Traceback" not in fluid_unreachable.stderr
    assert "different loop" not in fluid_unreachable.stderr
    assert "different event loop" not in fluid_unreachable.stderr
    assert SECRET not in fluid_unreachable.stderr


POOL_SIZE = 4


@pytest.fixture(scope="module")
def mongod() -> Iterator[Mongod]:
    with Mongod(password=SECRET) as server:
        yield server


@pytest.fixture(scope="module", params=DRIVERS)
def fluid_answering(request, function: Path, mongod: Mongod) -> tuple[Invocation, int, int]:
    index_builds: list[object] = []

    def count_index_builds(command) -> bool:
        if command.command_name == "createIndexes":
            index_builds.append(command)
        return False  # the store answers

    watch = mongod.server.autoresponds(count_index_builds)
    env = {
        "VERCEL": "1",
        "MONGO_URL": mongod.url(f"fluid_{request.param}"),
        "MONGO_TIMEOUT_MS": "5000",
        "MONGO_MAX_POOL_SIZE": str(POOL_SIZE),
        "MONGO_DRIVER": request.param,
        "API_KEY": API_KEY,
    }
    before = mongod.connections()
    requests = [get("/api/health"), get("/api/status"), post_status(f"Bearer {API_KEY}")] * 6
    invocation = everything_at_once(function, requests, env)
    watch.cancel()
    return invocation, mongod.connections() - before, len(index_builds)


def test_concurrent_requests_all_succeed(fluid_answering):
    invocation, _, _ = fluid_answering
    assert [r["status"] for r in invocation.responses] == [200, 200, 201] * 6


def test_concurrent_requests_share_one_client(fluid_answering):
    invocation, _, _ = fluid_answering
    messages = [line["message"] for line in log_lines(invocation)]
    assert sum(m.startswith("database client created") for m in messages) == 1


def test_concurrent_requests_build_the_indexes_once(fluid_answering):
    from backend.server import INDEXES  # every index the app's stores declare

    _, _, index_builds = fluid_answering
    assert index_builds == len(INDEXES)  # one createIndexes per index, not one per request


def test_concurrent_requests_open_no_more_connections_than_the_pool(fluid_answering):
    _, connections, _ = fluid_answering
    assert 1 <= connections <= POOL_SIZE


def test_concurrent_requests_leak_no_password_and_no_key(fluid_answering):
    invocation, _, _ = fluid_answering
    shown = invocation.stderr + invocation.stdout + json.dumps(invocation.responses)
    assert SECRET not in shown
    assert API_KEY not in shown


# API_KEY set: a write needs it, a read does not.

KEYED = {
    "no key": post_status(),
    "wrong key": post_status(f"Bearer {'x' * len(API_KEY)}"),
    "basic": post_status(f"Basic {API_KEY}"),
    "key": post_status(f"Bearer {API_KEY}"),
    "list": get("/api/status"),
}


@pytest.fixture(scope="module")
def keyed(function: Path, mongod: Mongod) -> Rehearsal:
    env = {"VERCEL": "1", "MONGO_URL": mongod.url("keyed"), "API_KEY": API_KEY}
    return Rehearsal(function, KEYED, env)


@pytest.mark.parametrize("name", ["no key", "wrong key", "basic"])
def test_with_api_key_a_write_without_it_is_401_with_www_authenticate(keyed, name):
    assert keyed[name]["status"] == 401
    assert keyed[name]["headers"]["www-authenticate"] == "Bearer"
    assert keyed[name]["json"]["detail"].startswith("Writes need the API key")


def test_with_api_key_a_write_with_it_is_stored_and_reads_need_none(keyed):
    assert keyed["key"]["status"] == 201
    assert [item["id"] for item in keyed["list"]["json"]] == [keyed["key"]["json"]["id"]]


def test_with_api_key_the_key_is_in_no_response_and_no_log_line(keyed):
    assert API_KEY not in keyed.everything()


@pytest.fixture(params=DRIVERS)
def fluid_slow_queries(
    request, function: Path, mongod: Mongod, never_answer
) -> Iterator[Invocation]:
    """32 reads at once, each waiting for an answer that never comes, under a pool of 32."""
    silence = mongod.server.autoresponds(OpMsg("find", "status_checks"), never_answer)
    env = {
        "VERCEL": "1",
        "MONGO_URL": mongod.url(f"slow_{request.param}"),
        "MONGO_TIMEOUT_MS": str(TIMEOUT_MS),
        "MONGO_MAX_POOL_SIZE": "32",
        "MONGO_DRIVER": request.param,
    }
    try:
        yield everything_at_once(function, [get("/api/status")] * 32, env)
    finally:
        silence.cancel()


def test_concurrent_slow_queries_time_out_together_not_in_rounds(fluid_slow_queries):
    # Motor runs each operation on a thread; a thread pool smaller than the concurrent
    # operations (5 per CPU by default) would make them time out in rounds, one after another.
    responses = fluid_slow_queries.responses
    assert [r["status"] for r in responses] == [503] * 32
    assert max(r["seconds"] for r in responses) < 2.5 * TIMEOUT_MS / 1000


# AUTH_ISSUER set: a sign-in provider on this machine (harness.issuer) over https, as a deployment
# requires, its certificate trusted through SSL_CERT_FILE (which Python's default context reads);
# the items are each user's, the status checks still the API key's.


@pytest.fixture(scope="module")
def provider() -> Iterator[Issuer]:
    with Issuer(tls=True) as issuer:
        yield issuer


def item_request(method: str, path: str, token: str | None = None, body: dict | None = None):
    headers = JSON_HEADERS | ({"authorization": f"Bearer {token}"} if token else {})
    request = {"method": method, "path": path, "headers": headers}
    return request | ({"body": json.dumps(body)} if body is not None else {})


@pytest.fixture(scope="module")
def tokens(provider: Issuer) -> dict[str, str]:
    return {sub: provider.token(sub) for sub in ("alice", "bob")}


@pytest.fixture(scope="module")
def signed_in(function: Path, mongod: Mongod, provider: Issuer, tokens: dict) -> Rehearsal:
    alice, bob = tokens["alice"], tokens["bob"]
    created = {"title": "alice's"}
    requests = {
        "alice creates": item_request("POST", "/api/items", alice, created),
        "alice lists": item_request("GET", "/api/items", alice),
        "bob lists": item_request("GET", "/api/items", bob),
        "no token": item_request("GET", "/api/items"),
        "expired": item_request("GET", "/api/items", provider.token("alice", expires_in=-3600)),
        "the key on an item": item_request("POST", "/api/items", API_KEY, created),
        "a status check with the key": post_status(f"Bearer {API_KEY}"),
        "a status check with a token": post_status(f"Bearer {alice}"),
        "openapi": get("/api/openapi.json"),
    }
    env = {
        "VERCEL": "1",
        "MONGO_URL": mongod.url("signed_in"),
        "API_KEY": API_KEY,
        "AUTH_ISSUER": provider.url,
        "AUTH_AUDIENCE": provider.audience,
        "SSL_CERT_FILE": provider.ca_file,
    }
    return Rehearsal(function, requests, env)


def test_signed_in_a_user_s_item_is_listed_for_them_only(signed_in):
    assert signed_in["alice creates"]["status"] == 201
    created = signed_in["alice creates"]["json"]["id"]
    assert [item["id"] for item in signed_in["alice lists"]["json"]] == [created]
    assert signed_in["bob lists"]["json"] == []


def test_signed_in_the_keys_came_over_https_from_the_issuer(signed_in, provider):
    assert f"sign-in keys fetched from {provider.url}/jwks.json" in signed_in.stderr
    assert provider.jwks_requests == 1  # one instance, one fetch, however many tokens


@pytest.mark.parametrize("name", ["no token", "expired", "the key on an item"])
def test_signed_in_an_item_request_without_a_valid_token_is_401(signed_in, name):
    assert signed_in[name]["status"] == 401
    assert signed_in[name]["headers"]["www-authenticate"].startswith("Bearer")


def test_signed_in_status_writes_still_take_the_api_key_only(signed_in):
    assert signed_in["a status check with the key"]["status"] == 201
    assert signed_in["a status check with a token"]["status"] == 401


def test_signed_in_the_document_declares_the_user_token_on_the_items(signed_in):
    paths = signed_in["openapi"]["json"]["paths"]
    assert paths["/api/items"]["post"]["security"] == [{"UserToken": []}]
    assert paths["/api/status"]["post"]["security"] == [{"APIKey": []}]


def test_signed_in_no_token_key_or_claim_reaches_the_log(signed_in, tokens):
    log = signed_in.stderr + signed_in.invocation.stdout
    assert "request" in log  # the access lines are there...
    for secret in (API_KEY, *tokens.values(), *(t.split(".")[1] for t in tokens.values())):
        assert secret not in log  # ...and nothing of the tokens or the key
    assert "alice" not in log and "bob" not in log
