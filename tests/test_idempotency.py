"""Creates with an Idempotency-Key, on every resource that stores through `create_once` (status,
items, and a throwaway one added the plain way): a retry gets the first answer and writes
nothing, whatever became of the object since; a create cut off between its writes is completed
by its retry, the cut made by a real fault on the database."""

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Response
from fastapi.testclient import TestClient
from mockupdb import OpMsg
from pymongo.errors import AutoReconnect

from backend.clock import Clock
from backend.db import Db
from backend.idempotency import KEYS, IdempotencyKey, create_once
from backend.items_store import ITEMS
from backend.models import Input
from backend.status_store import STATUS_CHECKS
from backend.text import Text
from tests.conftest import ON_EVERY_DATABASE

pytestmark = ON_EVERY_DATABASE

THROWAWAY = "throwaway_things"


class ThingCreate(Input):
    name: Text(50)


def throwaway_router() -> APIRouter:
    """A resource nobody has written yet, storing through create_once like status and items."""
    router = APIRouter(prefix="/api/throwaway-things")

    @router.post("", status_code=201)
    async def create_throwaway_thing(
        body: ThingCreate,
        db: Db,
        clock: Clock,
        response: Response,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, str]:
        """Store a thing."""
        document = {"_id": str(uuid.uuid4()), "name": body.name}
        document = await create_once(
            db, THROWAWAY, document, body=body, key=idempotency_key, now=clock(), response=response
        )
        return {"id": document["_id"], "name": document["name"]}

    return router


@dataclass(frozen=True)
class Resource:
    path: str
    body: dict[str, str]
    collection: str
    field: str  # a text field of the stored object, to change it behind the key's back


RESOURCES = {
    "status": Resource("/api/status", {"client_name": "probe"}, STATUS_CHECKS, "client_name"),
    "items": Resource("/api/items", {"title": "probe"}, ITEMS, "title"),
    "throwaway": Resource("/api/throwaway-things", {"name": "probe"}, THROWAWAY, "name"),
}


@pytest.fixture(params=RESOURCES.values(), ids=RESOURCES.keys())
def resource(request) -> Resource:
    return request.param


@pytest.fixture
def client(app):
    app.include_router(throwaway_router())
    with TestClient(app) as client:
        yield client


@pytest.fixture
def database(app, client) -> Callable[[Callable[[Any], Any]], Any]:
    """`database(lambda db: ...)`: run a coroutine on the app's own database, in its loop."""

    def run(operation: Callable[[Any], Any]) -> Any:
        async def call():
            return await operation(await app.state.mongo.database())

        return client.portal.call(call)

    return run


def stored(database, resource) -> list[dict[str, Any]]:
    return database(lambda db: db[resource.collection].find({}).to_list(None))


def post(client, resource, key="key-1", **changes):
    body = {**resource.body, **changes}
    return client.post(resource.path, json=body, headers={"Idempotency-Key": key})


@dataclass
class Fault:
    """A command on a collection that fails as a dropped connection does, before it is applied,
    until `end()`: on the wire the server hangs up (the driver raises AutoReconnect); on the
    embedded store the collection raises it."""

    command: str
    collection: str
    active: bool = True

    def hits(self, collection: str) -> bool:
        return self.active and collection == self.collection

    def end(self) -> None:
        self.active = False


@pytest.fixture
def fault(request, monkeypatch) -> Callable[[str, str], Fault]:
    driver = request.node.callspec.params["app"]

    def start(command: str, collection: str) -> Fault:
        made = Fault(command, collection)
        if driver == "embedded":
            import mongomock_motor

            method = {"insert": "insert_one", "update": "update_one"}[command]
            works = getattr(mongomock_motor.AsyncMongoMockCollection, method)

            async def failing(self, *args, **kwargs):
                if made.hits(self.name):
                    raise AutoReconnect("connection closed")
                return await works(self, *args, **kwargs)

            monkeypatch.setattr(mongomock_motor.AsyncMongoMockCollection, method, failing)
        else:
            server = request.getfixturevalue("mongod").server
            hang_up = server.autoresponds(
                OpMsg(command, collection), lambda r: made.hits(collection) and r.hangup()
            )
            request.addfinalizer(hang_up.cancel)
        return made

    return start


def test_a_retry_with_the_same_key_returns_the_original_object(client, database, resource):
    first, retry = post(client, resource), post(client, resource)
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert [document["_id"] for document in stored(database, resource)] == [first.json()["id"]]


def test_a_retry_after_the_object_was_deleted_leaves_it_deleted(client, database, resource):
    first = post(client, resource).json()
    database(lambda db: db[resource.collection].delete_one({"_id": first["id"]}))
    retry = post(client, resource)
    assert retry.status_code == 201
    assert retry.json() == first  # the first answer
    assert retry.headers["idempotent-replayed"] == "true"
    assert stored(database, resource) == []


def test_a_retry_after_the_object_was_changed_keeps_the_change(client, database, resource):
    first = post(client, resource).json()
    change = {"$set": {resource.field: "changed since"}}
    database(lambda db: db[resource.collection].update_one({"_id": first["id"]}, change))
    retry = post(client, resource)
    assert retry.status_code == 201
    assert retry.json() == first
    [document] = stored(database, resource)
    assert document[resource.field] == "changed since"


def test_a_retry_completes_a_create_cut_off_before_its_insert(client, database, resource, fault):
    insert = fault("insert", resource.collection)
    cut_off = post(client, resource)
    assert cut_off.status_code == 503
    assert stored(database, resource) == []
    insert.end()
    retry = post(client, resource)
    assert retry.status_code == 201
    assert retry.headers["idempotent-replayed"] == "true"
    assert [document["_id"] for document in stored(database, resource)] == [retry.json()["id"]]
    assert post(client, resource).json() == retry.json()
    assert len(stored(database, resource)) == 1


def test_a_retry_completes_a_create_cut_off_before_its_key_was_marked_done(
    client, database, resource, fault
):
    mark_done = fault("update", KEYS)
    cut_off = post(client, resource)
    assert cut_off.status_code == 503
    [inserted] = stored(database, resource)  # the object is stored, its key still pending
    mark_done.end()
    retry = post(client, resource)
    assert retry.status_code == 201
    assert retry.json()["id"] == inserted["_id"]
    # The retry marked it done: from now on a retry writes nothing.
    database(lambda db: db[resource.collection].delete_one({"_id": inserted["_id"]}))
    assert post(client, resource).json() == retry.json()
    assert stored(database, resource) == []


def test_concurrent_requests_with_one_key_store_one_object(app, client, database, resource):
    async def burst():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return await asyncio.gather(
                *(
                    http.post(resource.path, json=resource.body, headers={"Idempotency-Key": "k"})
                    for _ in range(20)
                )
            )

    responses = client.portal.call(burst)
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert len(stored(database, resource)) == 1
    # They left the key done: a later retry writes nothing.
    database(lambda db: db[resource.collection].delete_many({}))
    assert post(client, resource, key="k").status_code == 201
    assert stored(database, resource) == []


def test_the_same_key_with_a_different_body_is_422(client, database, resource):
    first = post(client, resource, key="k").json()
    response = post(client, resource, key="k", **{next(iter(resource.body)): "other"})
    assert response.status_code == 422
    assert "different body" in response.json()["detail"]
    assert [document["_id"] for document in stored(database, resource)] == [first["id"]]


def test_different_keys_store_different_objects(client, database, resource):
    assert (
        post(client, resource, key="a").json()["id"] != post(client, resource, key="b").json()["id"]
    )
    assert len(stored(database, resource)) == 2


def test_the_same_key_on_two_resources_is_two_keys(client, database):
    status, items = RESOURCES["status"], RESOURCES["items"]
    assert post(client, status, key="shared").status_code == 201
    other = post(client, items, key="shared")
    assert other.status_code == 201
    assert "idempotent-replayed" not in other.headers
    assert len(stored(database, items)) == 1


def test_without_a_key_every_request_stores_a_new_object(client, database, resource):
    for _ in range(2):
        client.post(resource.path, json=resource.body)
    assert len(stored(database, resource)) == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "naïve"])
def test_a_malformed_key_is_422(client, database, key):
    status = RESOURCES["status"]
    response = client.post(status.path, json=status.body, headers={"Idempotency-Key": key.encode()})
    assert response.status_code == 422
    assert stored(database, status) == []


def test_keys_expire_after_a_day(client, database):
    post(client, RESOURCES["status"])

    async def ttl_indexes(db):
        info = await db[KEYS].index_information()
        return [(i["key"], i.get("expireAfterSeconds")) for i in info.values()]

    assert ([("created_at", 1)], 24 * 60 * 60) in database(ttl_indexes)


def test_a_deleted_item_stays_deleted_when_its_create_is_retried(client):
    items = RESOURCES["items"]
    first = post(client, items, key="resur-1")
    assert client.delete(first.headers["location"]).status_code == 204
    retry = post(client, items, key="resur-1")
    assert retry.status_code == 201
    assert retry.json() == first.json()
    assert client.get(first.headers["location"]).status_code == 404
    assert client.get("/api/items").json() == []


def test_a_changed_item_keeps_its_change_when_its_create_is_retried(client):
    items = RESOURCES["items"]
    first = post(client, items, key="k")
    headers = {"content-type": "application/merge-patch+json"}
    changed = client.patch(first.headers["location"], json={"title": "new"}, headers=headers)
    assert changed.status_code == 200
    retry = post(client, items, key="k")
    assert retry.json() == first.json()
    assert retry.headers["etag"] == first.headers["etag"]
    assert client.get(first.headers["location"]).json() == changed.json()
