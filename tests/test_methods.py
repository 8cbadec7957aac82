"""HTTP methods and paths: HEAD wherever GET is, an Allow that lists every method, no redirects."""

import pytest


def test_head_answers_200_with_the_headers_of_get_and_no_body(client):
    document = client.get("/api/openapi.json").json()
    paths = [path for path, operations in document["paths"].items() if "{" not in path]
    paths = [path for path in paths if "get" in document["paths"][path]]
    assert paths  # every GET the document has without a path parameter
    for path in paths:
        get, head = client.get(path), client.head(path)
        assert head.status_code == 200, path
        assert head.content == b""
        for name in ("content-type", "content-length", "cache-control", "x-content-type-options"):
            assert head.headers[name] == get.headers[name]


def test_head_is_logged_as_head(client, capfd):
    capfd.readouterr()
    client.head("/api/")
    assert '"method": "HEAD"' in capfd.readouterr().err


@pytest.mark.parametrize("method", ["DELETE", "PUT", "PATCH"])
def test_a_wrong_method_is_405_allowing_every_method_of_the_path(client, method):
    response = client.request(method, "/api/status")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, POST"


def test_a_get_only_path_allows_get_and_head(client):
    response = client.post("/api/health")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize("path", ["/api", "/api/status/", "/api/health/"])
def test_a_path_with_or_without_a_trailing_slash_is_not_redirected(client, path):
    response = client.get(path, headers={"host": "evil.example"}, follow_redirects=False)
    assert response.status_code == 404
    assert "location" not in response.headers
