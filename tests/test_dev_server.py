"""The contract over real HTTP, against the server `make dev` runs (uvicorn, embedded database)."""

from collections.abc import Iterator

import httpx
import pytest

from harness.dev_server import dev_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with dev_server(tmp_path_factory.mktemp("dev") / "server.log") as url:
        yield url


def test_hello_world(server):
    assert httpx.get(f"{server}/api/").json() == {"message": "Hello World"}


def test_create_then_page_through_with_link_headers(server):
    created = [
        httpx.post(f"{server}/api/status", json={"client_name": f"c{i}"}).json() for i in range(5)
    ]
    newest_first = sorted(created, key=lambda item: (item["timestamp"], item["id"]), reverse=True)
    seen, url = [], f"{server}/api/status?limit=2"
    while url:
        response = httpx.get(url)
        assert response.status_code == 200
        seen += [item["id"] for item in response.json()]
        link = response.links.get("next")
        url = f"{server}{link['url']}" if link else None
    assert seen[:5] == [item["id"] for item in newest_first]


def test_health_reports_the_embedded_database(server):
    health = httpx.get(f"{server}/api/health").json()
    assert health == {"status": "ok", "database": "embedded", "driver": "mongomock"}


def test_oversized_body_is_413_json(server):
    response = httpx.post(
        f"{server}/api/status",
        content=b"x" * (64 * 1024 + 1),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert "detail" in response.json()


def test_errors_and_headers(server):
    response = httpx.get(f"{server}/api/nope", headers={"origin": "https://a.example"})
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-request-id"]
