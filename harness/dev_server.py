"""The deployment as `make dev` runs it: uvicorn serving `harness.local_vercel:app` (the page at
`/`, the API under `/api/`, on the embedded database unless MONGO_URL is set).

`python -m harness.dev_server --reload` is `make dev`; `dev_server()` starts the same command
without reload on a free port, for the load test, the benchmark and the tests over real HTTP.
"""

import argparse
import os
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
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # The environment wins over a `.env` file, and a blank MONGO_URL or API_KEY means unset.
    env = {**os.environ, "MONGO_URL": "", "API_KEY": "", "VERCEL": "0", **(env or {})}
    with log.open("wb") as output:
        process = subprocess.Popen(
            uvicorn_command(app, port),
            cwd=project,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
        )
    try:
        _wait_until_ready(process, url, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


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
