"""Clients generated from the served OpenAPI document, by tools nobody here wrote, call the API
by the operations' ids and work: openapi-python-client's runs the items lifecycle against
`make dev`'s server, and README's openapi-typescript command writes types that `tsc` accepts."""

import importlib
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.request import urlopen

import pytest

from harness import ROOT
from harness.dev_server import dev_server
from tests.conftest import TEST_API_KEY

pytestmark = pytest.mark.slow

TOOLS = ROOT / ".tools" / "node_modules"
PACKAGE = "generated_api_client"
ITEMS_OPERATIONS = ("createItem", "listItems", "readItem", "updateItem", "deleteItem")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`make dev`'s server with API_KEY set, as a deployment has it: writes need the token."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    with dev_server(log, env={"API_KEY": TEST_API_KEY}) as url:
        yield url


@pytest.fixture
def python_client(server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The package openapi-python-client generates from the served document, imported."""
    document = tmp_path / "openapi.json"
    with urlopen(f"{server}/api/openapi.json") as response:
        document.write_bytes(response.read())
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"package_name_override": PACKAGE}))
    generated = subprocess.run(
        [
            Path(sys.executable).parent / "openapi-python-client",
            *("generate", "--path", document, "--config", config, "--meta", "none"),
            *("--output-path", tmp_path / PACKAGE),
        ],
        # Its post-hooks run ruff, which is in this environment's bin.
        env={
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert "Warning" not in generated.stdout, generated.stdout
    monkeypatch.syspath_prepend(str(tmp_path))
    yield importlib.import_module(PACKAGE)
    for name in [name for name in sys.modules if name.partition(".")[0] == PACKAGE]:
        del sys.modules[name]


@pytest.fixture
def client(python_client, server):
    """The generated client, with the key: its connections closed after the test."""
    with python_client.AuthenticatedClient(base_url=server, token=TEST_API_KEY) as client:
        yield client


def test_the_generated_python_client_runs_the_items_lifecycle(python_client, client):
    items = importlib.import_module(f"{PACKAGE}.api.items")
    models = importlib.import_module(f"{PACKAGE}.models")
    for name in ("create_item", "list_items", "read_item", "update_item", "delete_item"):
        importlib.import_module(f"{items.__name__}.{name}")

    key = "generated-client-1"
    created = items.create_item.sync_detailed(
        client=client, body=models.ItemCreate(title="Buy milk"), idempotency_key=key
    )
    assert created.status_code == 201
    item_id, first_tag = created.parsed.id, created.headers["etag"]

    read = items.read_item.sync_detailed(item_id, client=client)
    assert read.status_code == 200
    assert read.parsed.title == "Buy milk"
    unchanged = items.read_item.sync_detailed(item_id, client=client, if_none_match=first_tag)
    assert unchanged.status_code == 304

    change = models.ItemUpdate(title="Buy oat milk")
    updated = items.update_item.sync_detailed(
        item_id, client=client, body=change, if_match=first_tag
    )
    assert updated.status_code == 200
    assert updated.parsed.title == "Buy oat milk"
    stale = items.update_item.sync_detailed(item_id, client=client, body=change, if_match=first_tag)
    assert stale.status_code == 412
    assert isinstance(stale.parsed, models.ErrorMessage)

    deleted = items.delete_item.sync_detailed(
        item_id, client=client, if_match=updated.headers["etag"]
    )
    assert deleted.status_code == 204
    assert items.read_item.sync_detailed(item_id, client=client).status_code == 404

    # The create retried, as a client whose first answer was lost does: it stays deleted.
    retried = items.create_item.sync_detailed(
        client=client, body=models.ItemCreate(title="Buy milk"), idempotency_key=key
    )
    assert retried.status_code == 201
    assert retried.parsed.id == item_id
    assert items.read_item.sync_detailed(item_id, client=client).status_code == 404
    listed = items.list_items.sync_detailed(client=client)
    assert item_id not in [item.id for item in listed.parsed]


def pinned(name: str) -> str:
    """A version the Makefile pins (`make test` installs it under .tools/)."""
    found = re.search(rf"^{name} := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert found, f"the Makefile pins no {name}"
    return found[1]


def readme_typescript_command() -> str:
    """README's one command that generates a frontend's TypeScript client."""
    readme = (ROOT / "README.md").read_text()
    (command,) = re.findall(r"^npx openapi-typescript@\S+ .*$", readme, re.MULTILINE)
    return command


USAGE = """\
import type { operations, paths } from "./{types}";

type NewItem = operations["createItem"]["requestBody"]["content"]["application/json"];
type Item = operations["readItem"]["responses"][200]["content"]["application/json"];
type Change = operations["updateItem"]["requestBody"]["content"]["application/merge-patch+json"];
type Listed = paths["/api/items"]["get"]["responses"][200]["content"]["application/json"];

const create: NewItem = { title: "Buy milk" };
const change: Change = { description: null };
// @ts-expect-error: an item needs its title
const untitled: NewItem = { description: "no title" };
export function titles(listed: Listed): string[] {
  return listed.map((item: Item) => item.title);
}
export { create, change, untitled };
"""


def test_readme_s_typescript_command_generates_types_of_the_items_operations(server, tmp_path):
    command = readme_typescript_command()
    version = pinned("OPENAPI_TYPESCRIPT_VERSION")
    assert f"openapi-typescript@{version} " in command
    assert (TOOLS / "openapi-typescript" / "package.json").is_file(), (
        "openapi-typescript is not installed under .tools/: run `make test`, which installs it"
    )
    # Run where a frontend would, with the pinned packages as its own and npm offline: npx must
    # use the installed version, never fetch one.
    (tmp_path / "node_modules").symlink_to(TOOLS)
    generated = subprocess.run(
        ["bash", "-c", command.replace("localhost:8000", server.removeprefix("http://"))],
        cwd=tmp_path,
        env={**os.environ, "npm_config_offline": "true"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    output = tmp_path / shlex.split(command)[shlex.split(command).index("-o") + 1]
    types = output.read_text()
    for operation_id in ITEMS_OPERATIONS:
        assert f'operations["{operation_id}"]' in types
    assert "_api_" not in types

    usage = tmp_path / "usage.ts"
    usage.write_text(
        USAGE.replace("{types}", str(output.relative_to(tmp_path)).removesuffix(".d.ts"))
    )
    # Strict, and only these files: none of the @types the other tools under .tools/ bring.
    options = {"strict": True, "noEmit": True, "target": "es2022", "types": []}
    config = {"compilerOptions": options, "files": [usage.name]}
    (tmp_path / "tsconfig.json").write_text(json.dumps(config))
    checked = subprocess.run(
        [TOOLS / ".bin" / "tsc", "--project", "tsconfig.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
