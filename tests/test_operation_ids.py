"""Operation ids a person would write (`createItem`), unique, with no path or method spelled in
them, for every route of the document however it was added."""

import re
from typing import Annotated

import pytest
from fastapi import APIRouter, Body
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from backend.errors import operations

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
# FastAPI's default ids end in the method (`create_item_api_items_post`); so might camelCase.
ENDS_IN_A_METHOD = re.compile(
    "(_(" + "|".join(HTTP_METHODS) + ")|" + "|".join(m.title() for m in HTTP_METHODS) + ")$"
)


def add_routes_every_way(app):
    """A throwaway router included the plain way, a route by decorator on the app, a router
    with FastAPI's own id function, and a route made by hand: all after create_app()."""
    notes = APIRouter(prefix="/api/throwaway-notes", tags=["notes"])

    @notes.get("")
    async def list_throwaway_notes() -> list[str]:
        """List notes."""
        return []

    @notes.post("", status_code=201)
    async def create_throwaway_note(
        title: Annotated[str, Body()], text: Annotated[str, Body()]
    ) -> str:
        """Create a note: two body fields, so FastAPI names a schema for the body after the id."""
        return "n1"

    @notes.get("/{note_id}")
    async def read_throwaway_note(note_id: str) -> str:
        """Read a note."""
        return note_id

    app.include_router(notes)

    @app.put("/api/throwaway-settings")
    async def replace_throwaway_settings() -> None:
        """Replace the settings."""

    own_ids = APIRouter(
        prefix="/api/throwaway-tags",
        tags=["tags"],
        generate_unique_id_function=lambda route: f"{route.name}_{route.path_format}",
    )

    @own_ids.delete("/{tag}", status_code=204)
    async def delete_throwaway_tag(tag: str) -> None:
        """Delete a tag."""

    app.include_router(own_ids)

    async def read_throwaway_stats() -> dict[str, int]:
        """Read the stats."""
        return {}

    app.router.routes.append(APIRoute("/api/throwaway-stats", read_throwaway_stats))


@pytest.fixture
def document(app):
    add_routes_every_way(app)
    with TestClient(app) as client:
        return client.get("/api/openapi.json").json()


def ids(document):
    return {f"{method} {path}": op["operationId"] for path, method, op in operations(document)}


def test_every_operation_id_is_unique_and_spells_no_path_or_method(document):
    found = ids(document)
    assert len(found) > 10  # the project's and the throwaway ones
    assert len(set(found.values())) == len(found)
    for operation, operation_id in found.items():
        assert re.fullmatch(r"[a-z][A-Za-z0-9]*", operation_id), operation
        assert "_api_" not in operation_id
        assert not ENDS_IN_A_METHOD.search(operation_id), operation
    schemas = document["components"]["schemas"]
    assert "Body_createThrowawayNote" in schemas
    assert [name for name in schemas if "_api_" in name] == []


def test_the_ids_are_the_functions_names_as_a_person_writes_them(document):
    found = ids(document)
    assert {found[f"{m} /api/items"] for m in ("post", "get")} == {"createItem", "listItems"}
    item = {found[f"{m} /api/items/{{item_id}}"] for m in ("get", "patch", "delete")}
    assert item == {"readItem", "updateItem", "deleteItem"}
    assert found["post /api/status"] == "createStatusCheck"
    assert found["put /api/throwaway-settings"] == "replaceThrowawaySettings"
    assert found["delete /api/throwaway-tags/{tag}"] == "deleteThrowawayTag"
    assert found["get /api/throwaway-stats"] == "readThrowawayStats"


def test_an_id_the_route_sets_itself_is_kept(app):
    @app.get("/api/throwaway-chosen", operation_id="pickedByHand")
    async def chosen() -> None:
        """A route whose author chose the id."""

    with TestClient(app) as client:
        document = client.get("/api/openapi.json").json()
    assert ids(document)["get /api/throwaway-chosen"] == "pickedByHand"


def test_two_functions_of_one_name_get_ids_told_apart_by_their_tag(app):
    for tag in ("drafts", "notes"):
        router = APIRouter(prefix=f"/api/throwaway-{tag}", tags=[tag])

        @router.get("")
        async def list_all() -> list[str]:
            """List them."""
            return []

        app.include_router(router)
    with TestClient(app) as client, pytest.warns(UserWarning, match="Duplicate Operation ID"):
        document = client.get("/api/openapi.json").json()
    found = ids(document)
    assert found["get /api/throwaway-drafts"] == "draftsListAll"
    assert found["get /api/throwaway-notes"] == "notesListAll"


def test_a_route_added_after_the_document_was_served_is_completed_like_the_rest(app):
    with TestClient(app) as client:
        client.get("/api/openapi.json")

        @app.get("/api/throwaway-late")
        async def read_late_thing() -> None:
            """Added late."""

        document = client.get("/api/openapi.json").json()
    late = document["paths"]["/api/throwaway-late"]["get"]
    assert late["operationId"] == "readLateThing"
    assert {"400", "413", "500"} <= set(late["responses"])  # completed like the rest
