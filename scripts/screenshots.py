"""The status page's pictures in README, made by the headless Chromium the tests use:
`.venv/bin/python -m scripts.screenshots` writes docs/status-page*.png."""

import tempfile
from pathlib import Path

import httpx

from harness import ROOT
from harness.browser import Browser
from harness.dev_server import dev_server

STATES = {
    "status-page.png": {},
    "status-page-no-database.png": {"VERCEL": "1"},
}


def main() -> None:
    with tempfile.TemporaryDirectory() as work, Browser() as browser:
        for name, env in STATES.items():
            with dev_server(Path(work) / "server.log", env=env) as url:
                for client in ("laptop", "phone"):
                    httpx.post(f"{url}/api/status", json={"client_name": client})
                tab = browser.open(f"{url}/", width=760, height=560)
                tab.wait_for("document.querySelector('main').getAttribute('aria-busy') === 'false'")
                tab.screenshot(ROOT / "docs" / name)
                print(f"docs/{name}")


if __name__ == "__main__":
    main()
