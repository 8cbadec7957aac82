"""harness.openapi: what the rehearsal and `make smoke` read from the OpenAPI document, on a
document made for the purpose and on the app's own, against what the app answers."""

import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, RootModel

from harness.openapi import (
    collections,
    expected_allow,
    parse_allow,
    paths,
    unserved_request,
)


class Thing(BaseModel):
    name: str


class Things(RootModel[list[Thing]]):
    pass


def document() -> dict:
    router = APIRouter(prefix="/api/things")

    @router.get("")
    async def list_things() -> list[Thing]:
        return []

    @router.post("")
    async def create_thing(thing: Thing) -> Thing:
        return thing

    @router.get("/named")
    async def list_named_things() -> Things:  # an array behind a $ref
        return Things([])

    @router.get("/{thing_id}")
    async def read_thing(thing_id: str) -> Thing:
        return Thing(name=thing_id)

    @router.delete("/{thing_id}", status_code=204)
    async def delete_thing(thing_id: str) -> None:
        pass

    @router.get("/{thing_id}/parts")
    async def list_parts(thing_id: str) -> list[Thing]:
        return []

    @router.get("/count/all")
    async def count_things() -> int:
        return 0

    app = FastAPI()
    app.include_router(router)
    return app.openapi()


def test_collections_are_the_gets_without_path_parameters_that_answer_a_json_array():
    assert collections(document()) == ["/api/things", "/api/things/named"]


def test_paths_list_each_path_with_the_methods_it_serves():
    assert paths(document()) == {
        "/api/things": {"GET", "POST"},
        "/api/things/named": {"GET"},
        "/api/things/{thing_id}": {"GET", "DELETE"},
        "/api/things/{thing_id}/parts": {"GET"},
        "/api/things/count/all": {"GET"},
    }


@pytest.mark.parametrize(
    ("methods", "allow"),
    [({"GET", "POST"}, {"GET", "HEAD", "POST"}), ({"POST"}, {"POST"}), ({"GET"}, {"GET", "HEAD"})],
)
def test_a_405_allows_the_path_s_methods_and_head_where_get_is(methods, allow):
    assert expected_allow(methods) == allow


@pytest.mark.parametrize(
    ("path", "methods", "unserved"),
    [
        ("/api/things", {"GET", "POST"}, ("DELETE", "/api/things")),
        ("/api/things/{thing_id}", {"GET", "DELETE"}, ("PUT", "/api/things/0")),
        ("/api/a/{b}/c/{d}", {"DELETE", "PUT", "PATCH", "POST"}, ("GET", "/api/a/0/c/0")),
        ("/api/all", {"DELETE", "PUT", "PATCH", "POST", "GET"}, None),
    ],
)
def test_the_unserved_request_is_a_method_the_path_does_not_serve(path, methods, unserved):
    assert unserved_request(path, methods) == unserved


def test_allow_is_read_whatever_its_spacing_and_case():
    assert parse_allow("get,HEAD ,  post") == {"GET", "HEAD", "POST"}
    assert parse_allow("") == parse_allow(None) == set()


def test_the_app_answers_each_path_s_unserved_method_with_405_and_the_allow_expected(app, client):
    served = paths(app.openapi())
    answers = {}
    for path, methods in served.items():
        method, url = unserved_request(path, methods)
        response = client.request(method, url)
        answers[path] = (response.status_code, parse_allow(response.headers.get("allow")))
    assert answers == {path: (405, expected_allow(methods)) for path, methods in served.items()}


def test_the_app_answers_each_collection_with_200_and_a_json_list(app, client):
    answers = {path: client.get(path) for path in collections(app.openapi())}
    assert answers  # a walk that finds nothing checks nothing
    assert {path: (r.status_code, type(r.json())) for path, r in answers.items()} == {
        path: (200, list) for path in answers
    }
