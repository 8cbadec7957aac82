"""The status page's pictures in README and docs/, made in the headless Chromium the tests use:
`.venv/bin/python -m scripts.screenshots` writes docs/status-page*.png."""

import tempfile
from pathlib import Path

import httpx

from harness import ROOT
from harness.dev_server import dev_server
from harness.status_page import chromium, open_checked

STATES = {
    "status-page.png": {},
    "status-page-no-database.png": {"VERCEL": "1"},
}


def main() -> None:
    with tempfile.TemporaryDirectory() as work, chromium() as browser:
        for name, env in STATES.items():
            with dev_server(Path(work) / "server.log", env=env) as url:
                for client in ("laptop", "phone"):
                    httpx.post(f"{url}/api/status", json={"client_name": client})
                page = browser.new_page(viewport={"width": 760, "height": 560})
                open_checked(page, url).screenshot(path=ROOT / "docs" / name)
                page.close()
                print(f"docs/{name}")


if __name__ == "__main__":
    main()
