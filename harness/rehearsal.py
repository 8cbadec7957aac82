"""Builds a project with Vercel's own CLI and runs the built function the way Lambda does.

`build()` runs `vercel build` on a copy of the project and lays the function out as deployed;
`invoke()` imports it in a fresh Python of the deployment's version with nothing but the bundle,
and calls its `vc_handler` once per request; `uploaded_files()` lists what `vercel deploy` would
upload. The CLI is the one in .tools, or in the folder VERCEL_TOOLS names (`make
rehearse-latest`: the same CLI with the newest @vercel/python).
"""

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import ROOT
from harness.pins import PinError, deployment_python, makefile_setting, uv

TOOLS = ROOT / os.environ.get("VERCEL_TOOLS", ".tools")
VERCEL_CLI = TOOLS / "node_modules" / ".bin" / "vercel"
CLI_PACKAGE = TOOLS / "node_modules" / "vercel" / "package.json"
LOCAL_ENV = "MONGO_URL=mongodb://leak:LOCAL-ENV-SECRET@127.0.0.1:1/\n"
# What the dashboard records when it detects the FastAPI preset; vercel.json must override it.
PROJECT_JSON = {
    "projectId": "prj_local",
    "orgId": "team_local",
    "settings": {"framework": "fastapi"},
}
CLI_CHUNKS = TOOLS / "node_modules" / "vercel" / "dist" / "chunks"
FUNCTION = Path(".vercel/output/functions/api/index.func")
NOT_COPIED = (".tools/", ".venv/")
MARKER = "\n@@vercel_local@@"

# Runs in Node.js: the file list `vercel deploy` uploads, from the function its deploy command
# calls (@vercel/client's buildFileTree, bundled into one of the CLI's chunks).
_UPLOAD_LIST = """
const [chunk, project] = process.argv.slice(1);
const { buildFileTree } = (await import(chunk)).require_dist();
const { fileList } = await buildFileTree(project, { isDirectory: true }, () => {});
process.stdout.write(JSON.stringify(fileList));
"""

# Runs in the function's Python: what Lambda does, plus timings and one JSON document out.
_RUNNER = f"""
import json, os, sys, time
from concurrent.futures import ThreadPoolExecutor
sys.path[0] = os.getcwd()  # Lambda puts the task root first on sys.path
requests, concurrent = json.load(sys.stdin)
started = time.perf_counter()
import vc__handler__python
result = {{"import_seconds": time.perf_counter() - started, "responses": []}}
def call(request):
    started = time.perf_counter()
    response = vc__handler__python.vc_handler({{"body": json.dumps(request)}}, None)
    return {{**response, "seconds": time.perf_counter() - started}}
if concurrent:  # Fluid compute: one instance, every request at once
    with ThreadPoolExecutor(len(requests)) as pool:
        result["responses"] = list(pool.map(call, requests))
else:
    result["responses"] = [call(request) for request in requests]
sys.stdout.write({MARKER!r} + json.dumps(result))
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)  # the runtime's atexit would wait for its server thread
"""


class RehearsalError(RuntimeError):
    """A prerequisite is missing, the build failed, or the function crashed."""


@dataclass
class Invocation:
    """`responses`: dicts with `status`, `headers` (lower-case names), `body`, `json`, `seconds`."""

    responses: list[dict[str, Any]]
    import_seconds: float
    stderr: str
    stdout: str


def function_env(function: Path, env: dict[str, str]) -> dict[str, str]:
    """The built function's environment (its `.vc-config.json` sets PYTHONPATH, among others),
    with `env` on top and nothing of this machine's but a PATH."""
    config = json.loads((function / ".vc-config.json").read_text())
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": tempfile.gettempdir(),
        **config.get("environment", {}),
        **env,
    }


def pinned_cli_version() -> str:
    """The Vercel CLI version the Makefile pins (`VERCEL_VERSION`), which `make test` installs."""
    return makefile_setting("VERCEL_VERSION")


def builder_version() -> str:
    """The version of @vercel/python, Vercel's Python builder, that the CLI in use loads."""
    for folder in (CLI_PACKAGE.parent, TOOLS):  # nested under the CLI, or hoisted beside it
        package = folder / "node_modules" / "@vercel" / "python" / "package.json"
        if package.is_file():
            return json.loads(package.read_text())["version"]
    raise RehearsalError(f"No @vercel/python under {TOOLS}: run `make test`, which installs it.")


def check_prerequisites() -> None:
    """Raise, saying how to install it, when a tool the rehearsal needs is missing."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise RehearsalError(
                f"`{tool}` is not on PATH: the Vercel CLI needs Node.js 20+ and npm "
                "(https://nodejs.org)."
            )
    if not VERCEL_CLI.is_file():
        raise RehearsalError(
            f"The pinned Vercel CLI is missing ({VERCEL_CLI}): run `make test`, which installs it."
        )
    installed = json.loads(CLI_PACKAGE.read_text())["version"]
    if installed != pinned_cli_version():
        raise RehearsalError(
            f"The Vercel CLI in {TOOLS} is {installed}; the Makefile pins "
            f"{pinned_cli_version()}: run `make test`, which installs it."
        )
    try:
        uv()  # `vercel build` needs it on PATH
        deployment_python()
    except PinError as exc:
        raise RehearsalError(str(exc)) from None


def max_duration(project: Path) -> float:
    """vercel.json's `maxDuration` of api/index.py, in seconds: how long Vercel lets an
    invocation run before it ends it."""
    config = json.loads((project / "vercel.json").read_text())
    return float(config["functions"]["api/index.py"]["maxDuration"])


def deploy_build_env(project: Path) -> dict[str, str]:
    """vercel.json's `build.env`: `vercel deploy` sends it to the remote build, but `vercel build`
    alone does not read it, so a rehearsal of the deployment applies it itself."""
    config = json.loads((project / "vercel.json").read_text())
    return {name: str(value) for name, value in config.get("build", {}).get("env", {}).items()}


def build(
    project: Path,
    work: Path,
    patch: Callable[[Path], None] | None = None,
    build_env: dict[str, str] | None = None,
) -> Path:
    """`vercel build` a copy of `project` in `work/src` as `vercel deploy` builds it, with
    vercel.json's `build.env` and then `build_env` as the build's environment variables; return
    the function laid out in `work/function` as deployed. What the build printed is in
    `work/build.log`."""
    check_prerequisites()
    src, function = work / "src", work / "function"
    for stale in (src, function):
        shutil.rmtree(stale, ignore_errors=True)
    copy_project(project, src)
    if patch is not None:
        patch(src)
    for name in (".env", ".env.local", ".envrc"):  # what developers keep secrets in
        (src / name).write_text(LOCAL_ENV)
    (src / ".vercel").mkdir(exist_ok=True)
    (src / ".vercel" / "project.json").write_text(json.dumps(PROJECT_JSON))

    env = {
        **os.environ,
        "VERCEL_TELEMETRY_DISABLED": "1",
        "PATH": f"{uv().parent}{os.pathsep}{os.environ.get('PATH', '')}",
        **deploy_build_env(src),
        **(build_env or {}),
    }
    result = subprocess.run(
        [str(VERCEL_CLI), "build", "--yes"],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    output = f"{result.stdout}\n{result.stderr}".strip()
    (work / "build.log").write_text(output)
    if result.returncode != 0:
        raise RehearsalError(f"`vercel build` failed (exit {result.returncode}):\n{output}")
    built = src / FUNCTION
    if not built.is_dir():
        functions = sorted(
            str(p.parent.relative_to(src / ".vercel/output/functions"))
            for p in (src / ".vercel/output/functions").rglob(".vc-config.json")
        )
        raise RehearsalError(
            f"`vercel build` made no function api/index; it made {functions or 'none'}:\n{output}"
        )

    config = json.loads((built / ".vc-config.json").read_text())
    for bundled, source in config.get("filePathMap", {}).items():
        _copy(src / source, function / bundled)  # an absolute `source` stays absolute
    for path in built.rglob("*"):
        if path.is_file():
            _copy(path, function / path.relative_to(built))
    return function


def invoke(
    function: Path,
    requests: list[dict[str, Any]],
    env: dict[str, str],
    timeout: float = 60,
    *,
    concurrent: bool = False,
) -> Invocation:
    """Import the function in a fresh process, as a cold Lambda does, and send it `requests`
    (`{"method", "path", "headers"?, "body"?}`), one after another, or all at once from as
    many threads (`concurrent`), as Fluid compute sends them into one instance."""
    try:
        result = subprocess.run(
            [str(deployment_python()), "-S", "-c", _RUNNER],
            cwd=function,
            env=function_env(function, env),
            input=json.dumps([requests, concurrent]),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr or b""  # bytes, whatever `text` says
        stderr = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr
        raise RehearsalError(f"The function did not answer within {timeout} s:\n{stderr}") from None
    stdout, marker, document = result.stdout.rpartition(MARKER)
    if result.returncode != 0 or not marker:
        raise RehearsalError(
            f"FUNCTION_INVOCATION_FAILED: the function exited with {result.returncode}:\n"
            f"{result.stderr}"
        )
    output = json.loads(document)
    return Invocation(
        responses=[_response(r) for r in output["responses"]],
        import_seconds=output["import_seconds"],
        stderr=result.stderr,
        stdout=stdout,
    )


def uploaded_files(project: Path) -> list[str]:
    """The files `vercel deploy` in `project` would upload for the remote build, relative to it:
    the pinned CLI's own list, with its default ignores and `.vercelignore` applied. Offline."""
    check_prerequisites()
    chunks = [p for p in sorted(CLI_CHUNKS.glob("*.js")) if "buildFileTree" in p.read_text()]
    if len(chunks) != 1:
        raise RehearsalError(
            f"Found buildFileTree in {len(chunks)} of the Vercel CLI's chunks ({CLI_CHUNKS}), "
            "not one: the CLI's layout changed; update harness/rehearsal.py's _UPLOAD_LIST."
        )
    result = subprocess.run(
        ["node", "--input-type=module", "-e", _UPLOAD_LIST, str(chunks[0]), str(project)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RehearsalError(f"Listing what `vercel deploy` uploads failed:\n{result.stderr}")
    return sorted(str(Path(path).relative_to(project)) for path in json.loads(result.stdout))


def copy_project(project: Path, src: Path) -> None:
    """The project's files as git lists them (committed or not, but not ignored), into `src`."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        path = project / name
        if not name.startswith(NOT_COPIED) and path.is_file():
            _copy(path, src / name)


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)


def _response(raw: dict[str, Any]) -> dict[str, Any]:
    body = raw.get("body", "")
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    headers = {name.lower(): ", ".join(values) for name, values in raw["headers"].items()}
    return {
        "status": raw["statusCode"],
        "headers": headers,
        "body": body,
        "json": parsed,
        "seconds": raw["seconds"],
    }
