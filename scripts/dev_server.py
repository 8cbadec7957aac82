"""The API on a free port, run as `make dev` runs it (uvicorn, without reload, with the embedded
database): for the load test, the benchmark and the tests over real HTTP."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 20.0


@contextmanager
def dev_server(log: Path, project: Path = ROOT, app: str = "backend.server:app") -> Iterator[str]:
    """Serve `app` from `project`, with its output in `log`; yield its URL once `/api/` answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    # The environment wins over a `.env` file, and a blank MONGO_URL means unset.
    env = {**os.environ, "MONGO_URL": "", "VERCEL": "0"}
    command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*command, "--no-access-log"],
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
            with urlopen(f"{url}/api/", timeout=1) as response:
                if response.status == 200:
                    return
        except (URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"The server did not answer GET /api/ in {STARTUP_SECONDS:.0f} s: {log}")
