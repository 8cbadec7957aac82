"""`make dev`'s reloader watches the project's sources, not .venv or .tools: uvicorn's polling
reloader stats every .py under its folders four times a second, and there are thousands there
(about a quarter of a core, idle, when it watched them all; docs/performance.md)."""

import subprocess
from pathlib import Path

import pytest
from uvicorn.config import Config
from uvicorn.main import main as uvicorn_cli
from uvicorn.supervisors.statreload import StatReload

from harness import ROOT
from harness.dev_server import APP, uvicorn_command


def watched_files(command: list[str]) -> set[Path]:
    """The files uvicorn's reloader polls when run as `command` (`python -m uvicorn ...`)."""
    assert command[1:3] == ["-m", "uvicorn"]
    options = uvicorn_cli.make_context("uvicorn", command[3:]).params
    assert options["reload"]
    config = Config(APP, reload=True, reload_dirs=options["reload_dirs"])
    return set(StatReload(config, target=lambda sockets: None, sockets=[]).iter_py_files())


@pytest.fixture
def in_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # where `make dev` runs, and uvicorn's default folder to watch


def test_the_reloader_watches_no_file_in_a_hidden_folder(in_project):
    hidden = [p for p in ROOT.glob(".*/**/*.py") if p.is_file()]
    assert any(p.is_relative_to(ROOT / ".venv") for p in hidden)  # thousands, to leave alone
    watched = watched_files(uvicorn_command(APP, 8000, reload=True))
    assert sorted(watched & {p.resolve() for p in hidden}) == []


def test_the_reloader_watches_every_python_file_in_a_folder_of_the_project(in_project):
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "*.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    in_folders = {ROOT / name for name in listed if "/" in name}  # committed or not
    assert {ROOT / "backend" / "server.py", ROOT / "api" / "index.py"} <= in_folders
    watched = watched_files(uvicorn_command(APP, 8000, reload=True))
    assert sorted(p for p in in_folders if p.resolve() not in watched) == []
