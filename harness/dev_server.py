"""The deployment as `make dev` runs it: uvicorn serving `harness.local_vercel:app` (the page at
`/`, the API under `/api/`, on the embedded database unless MONGO_URL is set).

`python -m harness.dev_server --reload` is `make dev`; `dev_server()` starts the same command
without reload on a free port, for the load test, the benchmark and the tests over real HTTP,
with the embedded database in memory unless `env` names an EMBEDDED_DATA_FILE (a test's own);
`start()` and `stop()` are its halves, for a test that kills or restarts the server.
"""

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.request import urlopen

from harness import ROOT
from harness.net import free_port

STARTUP_SECONDS = 20.0
STOP_SECONDS = 10.0
APP = "harness.local_vercel:app"


def source_folders(project: Path = ROOT) -> list[Path]:
    """The project's top-level folders but the hidden ones (.venv, .tools, .git: thousands of
    files that are not its sources), sorted."""
    return sorted(p for p in project.iterdir() if p.is_dir() and not p.name.startswith("."))


def uvicorn_command(app: str, port: int, *, reload: bool = False) -> list[str]:
    """The one uvicorn command line: the access line is the app's own, so uvicorn's is off. The
    reloader polls every .py under its folders: only the sources, or it keeps a core busy."""
    command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    watched = [arg for folder in source_folders() for arg in ("--reload-dir", str(folder))]
    return [*command, "--no-access-log", *(["--reload", *watched] if reload else [])]


@contextmanager
def dev_server(
    log: Path, project: Path = ROOT, app: str = APP, env: dict[str, str] | None = None
) -> Iterator[str]:
    """Serve `app` from `project`, with `env` on top of this environment and its output in
    `log`; yield its URL once `/api/` answers, whatever the status (the fallback's 503 too)."""
    process, url = start(log, project, app, env)
    try:
        yield url
    finally:
        stop(process)


def start(
    log: Path,
    project: Path = ROOT,
    app: str = APP,
    env: dict[str, str] | None = None,
    *,
    port: int | None = None,
    reload: bool = False,
) -> tuple[subprocess.Popen[bytes], str]:
    """`dev_server()`'s server, started (its output appended to `log`) and answering: the process
    (a group of its own, with uvicorn's reloader and worker) and its URL."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    # The environment wins over a `.env` file, and a blank variable means unset: no server a
    # test, the bench or a screenshot starts reaches the developer's database, key, data file or
    # sign-in provider.
    blank = dict.fromkeys(
        ("MONGO_URL", "API_KEY", "EMBEDDED_DATA_FILE", "AUTH_ISSUER", "AUTH_AUDIENCE"), ""
    )
    blank["VERCEL"] = "0"
    with log.open("ab") as output:
        process = subprocess.Popen(
            uvicorn_command(app, port, reload=reload),
            cwd=project,
            env={**os.environ, **blank, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
    try:
        _wait_until_ready(process, url, log)
    except BaseException:
        stop(process)
        raise
    return process, url


def stop(process: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM) -> None:
    """Stop the server and whatever it started (SIGTERM: as uvicorn shuts down; SIGKILL: as a
    crash would); return once all of them have exited, so none still holds a port or a file."""
    for signal_sent in (sig, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):  # the whole group has exited already
            os.killpg(process.pid, signal_sent)
        deadline = time.monotonic() + STOP_SECONDS
        while _group_alive(process) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _group_alive(process):
            return


def _group_alive(process: subprocess.Popen[bytes]) -> bool:
    process.poll()  # the leader, once it has exited, is reaped here
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_until_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"The server exited ({process.returncode}):\n{log.read_text()}")
        try:
            with urlopen(f"{url}/api/", timeout=1):
                return
        except HTTPError:
            return
        except (URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"The server did not answer GET /api/ in {STARTUP_SECONDS:.0f} s: {log}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the page and the API as Vercel would.")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--reload", action="store_true")
    args = parser.parse_args()
    command = uvicorn_command(APP, args.port, reload=args.reload)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
