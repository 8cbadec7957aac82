"""`make rehearse-latest`: the deploy rehearsal with the newest @vercel/python on the npm registry,
under the pinned Vercel CLI, installed in its own folder (.tools/vercel-python-<version>).

npm `overrides` installs that builder in the CLI's place, with the @vercel/build-utils it asks
for (its peer dependency: the CLI's own is older), and the CLI's own pin of the builder (the
`builders` of its package.json) is set to it: without that, `vercel build` finds the version
differs from its pin and installs the pinned builder into the project's `.vercel/builders`.
"""

import json
import os
import subprocess
import sys

from harness import ROOT
from harness.pins import makefile_setting

BUILDER = "@vercel/python"


def npm_view(*args: str) -> str:
    return subprocess.run(
        ["npm", "view", *args, "--json"], capture_output=True, text=True, check=True
    ).stdout


def install(tools_name: str, cli: str, builder: str) -> None:
    tools = ROOT / ".tools" / tools_name
    installed = tools / "installed"
    if installed.is_file():
        return
    tools.mkdir(parents=True, exist_ok=True)
    overrides = {
        BUILDER: builder,
        **json.loads(npm_view(f"{BUILDER}@{builder}", "peerDependencies")),
    }
    package = {"private": True, "dependencies": {"vercel": cli}, "overrides": overrides}
    (tools / "package.json").write_text(json.dumps(package, indent=2) + "\n")
    subprocess.run(
        ["npm", "install", "--prefix", str(tools), "--no-audit", "--no-fund", "--loglevel=error"],
        check=True,
    )
    cli_package = tools / "node_modules" / "vercel" / "package.json"
    manifest = json.loads(cli_package.read_text())
    manifest["builders"][BUILDER] = builder
    cli_package.write_text(json.dumps(manifest, indent=2) + "\n")
    installed.touch()


def main() -> None:
    cli, builder = makefile_setting("VERCEL_VERSION"), json.loads(npm_view(BUILDER, "version"))
    tools_name = f"vercel-python-{builder}"
    install(tools_name, cli, builder)
    print(
        f"Rehearsing with {BUILDER} {builder} (the newest) under the Vercel CLI {cli}", flush=True
    )
    env = {**os.environ, "VERCEL_TOOLS": f".tools/{tools_name}"}
    rehearsal = [sys.executable, "-m", "pytest", "tests/test_vercel_rehearsal.py"]
    sys.exit(subprocess.run(rehearsal, cwd=ROOT, env=env, check=False).returncode)


if __name__ == "__main__":
    main()
