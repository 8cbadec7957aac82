"""What the project pins, read where it is pinned: the tools' versions (Makefile), the
deployment's Python (.python-version) and every package (uv.lock, through the pinned uv)."""

import functools
import os
import re
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from harness import ROOT


class PinError(RuntimeError):
    """A pinned tool or Python is missing, or the lock cannot be read."""


def makefile_setting(name: str) -> str:
    """`NAME := value` from the Makefile: VERCEL_VERSION, UV_VERSION."""
    found = re.search(rf"^{name} := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    if found is None:
        raise PinError(f"The Makefile no longer says `{name} := <version>`.")
    return found[1]


def uv() -> Path:
    """The uv the Makefile fetches into .tools (`UV_VERSION`)."""
    path = ROOT / ".tools" / f"uv-{makefile_setting('UV_VERSION')}" / "bin" / "uv"
    if not path.is_file():
        raise PinError(f"The pinned uv is missing ({path}): run `make test`, which fetches it.")
    return path


def python_version() -> str:
    """The deployment's Python, `3.12`: Vercel reads .python-version."""
    return (ROOT / ".python-version").read_text().strip()


def bytecode_suffix() -> str:
    """How the deployment's Python names the bytecode it compiles: `.cpython-312.pyc`."""
    return f".cpython-{python_version().replace('.', '')}.pyc"


@functools.cache
def deployment_python() -> Path:
    """The base interpreter of the deployment's Python (a venv's would bring its site-packages),
    as a Lambda has it: this one's base when it is that version, else the one uv finds."""
    version = python_version()
    own = Path(sys.base_prefix) / "bin" / f"python{version}"
    if own.is_file():
        return own
    found = subprocess.run(
        [str(uv()), "python", "find", "--system", version],
        cwd=ROOT,
        env={**os.environ, "PYENV_VERSION": version},  # pyenv's shims serve only what it selects
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode != 0:
        raise PinError(
            f"Python {version} (.python-version) runs the built function, and uv finds none: "
            f"install it (e.g. `pyenv install {version}`), then `make test`.\n{found.stderr}"
        )
    return Path(found.stdout.strip())


def locked_runtime() -> dict[str, str]:
    """The lock's runtime packages (not the dev group) on the deployment's Python, as
    `{canonical name: version}`: what Vercel's builder installs into the function."""
    exported = subprocess.run(
        [str(uv()), "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if exported.returncode != 0:
        raise PinError(f"`uv export` could not read uv.lock:\n{exported.stderr}")
    environment = _marker_environment(deployment_python())
    locked = {}
    for line in exported.stdout.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate(environment):
                (version,) = (spec.version for spec in requirement.specifier)
                locked[canonicalize_name(requirement.name)] = version
    return locked


def _marker_environment(python: Path) -> dict[str, str]:
    """PEP 508's marker variables in the function: `python`'s version, on the platform
    `vercel build` installs for (Linux, x86_64) whatever machine builds."""
    version = subprocess.run(
        [str(python), "-S", "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return {
        "python_version": ".".join(version.split(".")[:2]),
        "python_full_version": version,
        "implementation_version": version,
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
        "os_name": "posix",
    }
