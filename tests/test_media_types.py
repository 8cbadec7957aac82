"""A body only in a media type its route takes: any other, or none, is a 415 naming those it
takes (Accept-Patch on a PATCH, Accept otherwise) and nothing is stored; for every route however
it was added, and declared in the OpenAPI document."""

import asyncio
import json
from typing import Annotated

import pytest
from fastapi import APIRouter, Body
from fastapi.testclient import TestClient

from backend.errors import operations
from tests.conftest import TEST_API_KEY

MERGE_PATCH = "application/merge-patch+json"
PATCH_TAKES = f"{MERGE_PATCH}, application/json"
REFUSED = {
    "text": ("text/plain", b'{"title": "changed"}'),
    "form": ("application/x-www-form-urlencoded", b"title=changed"),
    "json-patch-object": ("application/json-patch+json", b'{"title": "changed"}'),
    "json-patch": (
        "application/json-patch+json",
        b'[{"op": "replace", "path": "/title", "value": "changed"}]',
    ),
    "multipart": ("multipart/form-data; boundary=x", b'--x\r\n\r\n{"title": "changed"}\r\n--x--'),
    "none": (None, b'{"title": "changed"}'),
}


def send(client, method, path, content_type, content):
    headers = {} if content_type is None else {"content-type": content_type}
    return client.request(method, path, content=content, headers=headers)


@pytest.fixture
def item(client):
    return client.post("/api/items", json={"title": "first"}).json()


@pytest.mark.parametrize(("content_type", "content"), REFUSED.values(), ids=REFUSED.keys())
def test_a_patch_in_a_type_it_does_not_take_is_415_with_accept_patch(
    client, item, content_type, content
):
    response = send(client, "PATCH", f"/api/items/{item['id']}", content_type, content)
    assert response.status_code == 415
    assert response.headers["accept-patch"] == PATCH_TAKES
    assert "accept" not in response.headers
    assert response.json()["detail"].startswith(
        f"This route takes a body only as {MERGE_PATCH} or application/json"
    )
    assert client.get(f"/api/items/{item['id']}").json() == item  # unchanged


@pytest.mark.parametrize("path", ["/api/items", "/api/status"])
@pytest.mark.parametrize(("content_type", "content"), REFUSED.values(), ids=REFUSED.keys())
def test_a_create_in_a_type_it_does_not_take_is_415_and_stores_nothing(
    client, path, content_type, content
):
    response = send(client, "POST", path, content_type, content)
    assert response.status_code == 415
    assert response.headers["accept"] == "application/json"
    assert client.get(path).json() == []


@pytest.mark.parametrize(
    "content_type",
    [MERGE_PATCH, "application/json", "Application/JSON; charset=utf-8", f"{MERGE_PATCH};v=1"],
)
def test_a_patch_in_a_type_it_takes_is_applied(client, item, content_type):
    response = send(client, "PATCH", f"/api/items/{item['id']}", content_type, b'{"title": "new"}')
    assert response.status_code == 200
    assert response.json()["title"] == "new"


def test_a_request_without_a_body_needs_no_content_type(client):
    response = client.post("/api/items", content=b"")
    assert response.status_code == 422  # the missing body, not its type
    assert response.json()["detail"][0]["loc"] == ["body"]


def test_a_route_that_takes_no_body_ignores_one_in_any_type(client, item):
    response = send(client, "DELETE", f"/api/items/{item['id']}", "text/plain", b"whatever")
    assert response.status_code == 204


def test_a_write_without_the_key_is_401_whatever_its_body(make_client):
    keyed = make_client(api_key=TEST_API_KEY)
    assert send(keyed, "POST", "/api/items", "text/plain", b"x").status_code == 401


def add_routes_the_plain_way(app):
    router = APIRouter(prefix="/api/throwaway-shapes", tags=["shapes"])

    @router.post("", status_code=201)
    async def create_throwaway_shape(
        shape: Annotated[dict[str, int], Body(media_type="application/vnd.shape+json")],
    ) -> dict[str, int]:
        """A body in a vendor JSON type."""
        return shape

    @router.put("/{name}")
    async def replace_throwaway_shape(
        name: str, sides: Annotated[str, Body(media_type="text/csv")]
    ) -> str:
        """A body in a type not built on JSON."""
        return sides

    app.include_router(router)


@pytest.fixture
def added(app):
    add_routes_the_plain_way(app)
    with TestClient(app) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path", "content_type", "content", "status", "takes"),
    [
        ("POST", "/api/throwaway-shapes", "application/vnd.shape+json", b'{"a": 3}', 201, None),
        ("POST", "/api/throwaway-shapes", "application/json", b'{"a": 3}', 201, None),
        (
            "POST",
            "/api/throwaway-shapes",
            "text/plain",
            b'{"a": 3}',
            415,
            "application/vnd.shape+json, application/json",
        ),
        (
            "PUT",
            "/api/throwaway-shapes/tri",
            "text/csv",
            b"3,4,5",
            200,
            None,
        ),
        (
            "PUT",
            "/api/throwaway-shapes/tri",
            "application/json",
            b'{"sides": 3}',
            415,
            "text/csv",
        ),
    ],
)
def test_an_added_route_takes_what_its_body_declares(
    added, method, path, content_type, content, status, takes
):
    response = send(added, method, path, content_type, content)
    assert response.status_code == status
    assert response.headers.get("accept") == takes


def test_the_document_lists_the_types_each_body_takes_and_the_415(added):
    document = added.get("/api/openapi.json").json()
    takes = {
        f"{method} {path}": list(operation["requestBody"]["content"])
        for path, method, operation in operations(document)
        if "requestBody" in operation
    }
    assert takes["patch /api/items/{item_id}"] == [MERGE_PATCH, "application/json"]
    assert takes["post /api/items"] == ["application/json"]
    assert takes["post /api/throwaway-shapes"] == [
        "application/vnd.shape+json",
        "application/json",
    ]
    assert takes["put /api/throwaway-shapes/{name}"] == ["text/csv"]
    for path, method, operation in operations(document):
        refused = operation["responses"].get("415")
        assert (refused is not None) == ("requestBody" in operation), f"{method} {path}"
        if refused is not None:
            header = "Accept-Patch" if method == "patch" else "Accept"
            assert list(refused["headers"]) == [header]
            assert refused["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorMessage"
            }
    assert json.dumps(document).count('"415"') == len(takes)


def test_a_content_type_announces_a_body_even_with_no_length_said(app):
    """HTTP/2 need not send Content-Length: the type alone is judged."""
    scope = {
        "type": "http",
        "http_version": "2",
        "method": "POST",
        "scheme": "http",
        "path": "/api/items",
        "raw_path": b"/api/items",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"test"), (b"content-type", b"text/plain")],
        "server": ("test", 80),
        "client": ("127.0.0.1", 1),
    }
    sent = []

    async def receive():
        return {"type": "http.request", "body": b'{"title": "x"}', "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 415


def test_a_type_it_does_not_take_is_415_even_with_an_empty_body(client):
    response = send(client, "POST", "/api/items", "text/plain", b"")
    assert response.status_code == 415
