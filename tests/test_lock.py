"""The lock: uv.lock pins every package of pyproject.toml's declarations, with hashes; .venv is
the lock; requirements.txt is its export; `make upgrade` says what moved. (That the deployed
function holds the lock's versions is the rehearsal's: tests/test_vercel_rehearsal.py.)"""

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from harness import ROOT
from harness.pins import python_version, uv
from harness.rehearsal import copy_project
from tests.conftest import outside_make

EXPORT = ["export", "--frozen", "--no-dev", "--no-emit-project"]  # as `make lock` runs it


def run_uv(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(uv()), *args], cwd=cwd, capture_output=True, text=True, check=False)


def make(target: str, project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", target],
        cwd=project,
        env=outside_make(dict(os.environ)),
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_lock_is_pyproject_toml_s_resolution():
    checked = run_uv("lock", "--check", "--offline")
    assert checked.returncode == 0, f"pyproject.toml changed: run `make lock`\n{checked.stderr}"


def test_every_locked_package_is_pinned_to_one_version_with_hashes():
    packages = tomllib.loads((ROOT / "uv.lock").read_text())["package"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]
    unpinned = []
    for package in packages:
        if package["name"] == project:
            continue
        files = [*package.get("wheels", []), *filter(None, [package.get("sdist")])]
        if not package.get("version") or not files or not all(f.get("hash") for f in files):
            unpinned.append(package["name"])
    assert len(packages) > 20  # the runtime's and the tools' packages, transitive ones too
    assert unpinned == []


def test_requirements_txt_is_the_lock_s_export():
    exported = run_uv(*EXPORT, "--no-header")
    assert exported.returncode == 0, exported.stderr
    text = (ROOT / "requirements.txt").read_text()
    body = "".join(text.splitlines(keepends=True)[2:])  # after the header naming the command
    assert body == exported.stdout, "requirements.txt is not uv.lock's: run `make lock`"


def test_the_venv_holds_exactly_the_lock():
    checked = run_uv("sync", "--frozen", "--check", "--python", sys.executable)
    assert checked.returncode == 0, f"run `make test`, which syncs .venv:\n{checked.stderr}"


def test_the_deployment_s_python_is_one_the_project_allows():
    allowed = SpecifierSet(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    )
    assert Version(python_version()) in allowed


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """The project's files, with the pinned uv (fetched once, shared)."""
    copy = tmp_path / "project"
    copy_project(ROOT, copy)
    (copy / ".tools").mkdir()
    (copy / ".tools" / uv().parent.parent.name).symlink_to(uv().parent.parent)
    return copy


def test_a_dependency_added_without_locking_stops_make_naming_make_lock(project_copy):
    pyproject = project_copy / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace("dependencies = [\n", 'dependencies = [\n    "six",\n', 1)
    )
    result = make("test-fast", project_copy)
    assert result.returncode != 0
    assert "dependencies changed since uv.lock was made: run `make lock`" in result.stdout
    assert not (project_copy / ".venv").exists()  # stopped before installing anything


@pytest.mark.slow  # resolves against PyPI
def test_make_upgrade_moves_to_the_newest_allowed_and_says_what_moved(project_copy):
    older = run_uv("lock", "--upgrade-package", "idna==3.10", cwd=project_copy)
    assert "Updated idna" in older.stderr, older.stderr
    result = make("upgrade", project_copy)
    assert result.returncode == 0, result.stderr
    moved = re.search(r"^Updated idna v3\.10 -> v(\S+)$", result.stderr, re.MULTILINE)
    assert moved, result.stderr
    assert Version(moved[1]) >= Version(locked_version("idna"))
    assert f"\nidna=={moved[1]} " in (project_copy / "requirements.txt").read_text()


def locked_version(name: str) -> str:
    packages = tomllib.loads((ROOT / "uv.lock").read_text())["package"]
    return next(p["version"] for p in packages if p["name"] == name)
