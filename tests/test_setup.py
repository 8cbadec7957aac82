"""What `make` sets up, whatever Python the machine has: uv, fetched with any python3, finds the
deployment's Python (.python-version) or downloads it, and says how to get it when it can do
neither; `make dev` then serves on that Python."""

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness import ROOT
from harness.net import free_port
from harness.pins import makefile_setting, python_version, uv
from harness.rehearsal import copy_project
from tests.conftest import outside_make


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    copy_project(ROOT, copy)
    return copy


def with_pinned_uv(project: Path) -> Path:
    """The pinned uv in the copy's .tools, as `make` leaves it (fetched once, shared)."""
    (project / ".tools").mkdir()
    (project / ".tools" / uv().parent.parent.name).symlink_to(uv().parent.parent)
    return project


def test_without_the_python_and_no_download_make_says_how_to_get_it(project_copy, tmp_path):
    # A machine with no Python on PATH, where uv's download of one is refused at once.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("make", "sh", "cat", "touch"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    env = {
        "PATH": str(bin_dir),
        "HOME": str(tmp_path),
        "UV_PYTHON_INSTALL_DIR": str(tmp_path / "pythons"),
        "UV_PYTHON_INSTALL_MIRROR": f"http://127.0.0.1:{free_port()}",
        "UV_HTTP_RETRIES": "0",
    }
    result = subprocess.run(
        ["make", "test-fast"],
        cwd=with_pinned_uv(project_copy),
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    version = python_version()
    assert result.returncode != 0
    assert f"Failed to install cpython-{version}" in result.stderr  # uv tried to download it
    assert (
        f"Python {version} is not on this machine, and uv could not download it (above). "
        f"Install it (pyenv install {version}" in result.stdout
    )
    assert not (project_copy / ".venv").exists()


def another_python() -> Path:
    """A Python of another version than the deployment's, on this machine."""
    for version in ("3.13", "3.11", "3.14"):
        if version == python_version():
            continue
        found = subprocess.run(
            [str(uv()), "python", "find", "--system", version],
            env={**os.environ, "PYENV_VERSION": version},
            capture_output=True,
            text=True,
            check=False,
        )
        if found.returncode == 0:
            return Path(found.stdout.strip())
    pytest.skip("no Python but the deployment's on this machine")


@pytest.fixture
def make_dev_with_another_python(
    project_copy: Path, tmp_path: Path
) -> Iterator[tuple[str, str, int]]:
    """`PYTHON=python3.X make dev` on a fresh copy where python3 is that other Python too."""
    other = another_python()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("python3", other.name):
        (bin_dir / name).symlink_to(other)
    port = free_port()
    env = outside_make({**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})
    env["PORT"] = str(port)
    env.update({"PYTHON": other.name, "MONGO_URL": "", "API_KEY": "", "VERCEL": "0"})
    log = tmp_path / "make-dev.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            ["make", "dev"],
            cwd=project_copy,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # fetches uv, then installs the lock
        while process.poll() is None and time.monotonic() < deadline:
            try:
                httpx.get(f"{url}/api/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.5)
        assert process.poll() is None, log.read_text()
        yield url, log.read_text(), process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def session_pythons(session: int) -> set[str]:
    """The interpreters the processes of a session run (uvicorn's reloader and its server)."""
    pythons = set()
    for proc in Path("/proc").iterdir():
        try:
            in_session = proc.name.isdigit() and os.getsid(int(proc.name)) == session
            exe = Path(os.readlink(proc / "exe")).name if in_session else ""
        except OSError:  # a process that ended meanwhile
            continue
        if exe.startswith("python"):
            pythons.add(exe)
    return pythons


@pytest.mark.slow
def test_make_dev_with_another_python_serves_on_the_deployment_s(make_dev_with_another_python):
    url, log, session = make_dev_with_another_python
    other = another_python().name
    assert f"{other} -m pip install" in log  # uv was fetched with it
    assert f"uv=={makefile_setting('UV_VERSION')}" in log
    assert httpx.get(f"{url}/api/").json() == {"message": "Hello World"}
    assert session_pythons(session) == {f"python{python_version()}"}
