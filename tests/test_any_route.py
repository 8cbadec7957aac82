"""The guarantees that come from the app, not from lists: a router added the plain FastAPI way,
after the app is built, gets `Allow`, HEAD, JSON errors and the project's documented errors."""

import json

import pytest
from fastapi import APIRouter, HTTPException
from fastapi.testclient import TestClient

from backend.errors import error_responses
from backend.models import Input
from backend.text import Text


class NoteCreate(Input):
    title: Text(50)


@pytest.fixture
def client(app):
    notes = APIRouter(prefix="/api/throwaway-notes", tags=["notes"])

    @notes.get("")
    async def list_notes() -> list[NoteCreate]:
        """List notes."""
        return []

    @notes.post("", status_code=201)
    async def create_note(body: NoteCreate) -> NoteCreate:
        """Create a note."""
        return body

    @notes.get("/{note_id}", responses=error_responses(404))
    async def read_note(note_id: str) -> NoteCreate:
        """Read a note."""
        raise HTTPException(404, "No note has this id.")

    @notes.delete("/{note_id}", status_code=204, responses=error_responses(404))
    async def delete_note(note_id: str) -> None:
        """Delete a note."""
        raise HTTPException(404, "No note has this id.")

    shared = APIRouter()

    @shared.put("/api/status")
    async def replace_status() -> None:
        """A method on a path another router serves."""

    app.include_router(notes)
    app.include_router(shared)
    with TestClient(app) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/api/throwaway-notes", "GET, HEAD, POST"),
        ("POST", "/api/throwaway-notes/n1", "DELETE, GET, HEAD"),
        ("DELETE", "/api/status", "GET, HEAD, POST, PUT"),
    ],
)
def test_a_wrong_method_on_an_added_route_is_405_allowing_every_method_of_the_path(
    client, method, path, allow
):
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed"}
    assert response.headers["allow"] == allow


def test_head_of_an_added_route_is_its_get_without_the_body(client):
    get, head = client.get("/api/throwaway-notes"), client.head("/api/throwaway-notes")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]


def test_an_added_route_s_errors_are_json_with_detail(client):
    assert client.get("/api/throwaway-notes/n1").json() == {"detail": "No note has this id."}
    response = client.post("/api/throwaway-notes", json={"title": "x" * 51, "<b>": 1})
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [
        ["body", "title"],
        ["body", "(name withheld)"],
    ]
    assert "xxxxx" not in response.text


def test_the_document_declares_the_project_s_errors_for_added_operations(client):
    document = client.get("/api/openapi.json").json()
    assert "HTTPValidationError" not in json.dumps(document)
    operations = document["paths"]["/api/throwaway-notes/{note_id}"]
    for method in ("get", "delete"):
        responses = operations[method]["responses"]
        assert responses["404"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorMessage"
        }
        assert responses["422"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/InvalidInput"
        }
        assert {"400", "413", "500"} <= set(responses)


def test_every_operation_declares_the_errors_any_request_may_get(client):
    document = client.get("/api/openapi.json").json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert {"400", "413", "500"} <= set(operation["responses"]), f"{method} {path}"


@pytest.mark.parametrize("status", [404, 409, 418, 429])
def test_error_responses_declares_any_status(status):
    (entry,) = error_responses(status).values()
    assert entry["description"]
