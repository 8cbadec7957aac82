"""POST /api/status with an Idempotency-Key: a retry returns the original and stores nothing new."""

import asyncio

import httpx
import pytest

from tests.conftest import ON_EVERY_DATABASE

pytestmark = ON_EVERY_DATABASE


def post(client, name="probe", key="key-1"):
    return client.post("/api/status", json={"client_name": name}, headers={"Idempotency-Key": key})


def stored(client):
    return client.get("/api/status").json()


def test_a_retry_with_the_same_key_returns_the_original_object(client):
    first, retry = post(client), post(client)
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert stored(client) == [first.json()]


def test_the_same_key_with_a_different_body_is_422(client):
    post(client, "first")
    response = post(client, "second")
    assert response.status_code == 422
    assert "different body" in response.json()["detail"]
    assert [item["client_name"] for item in stored(client)] == ["first"]


def test_different_keys_store_different_objects(client):
    assert post(client, key="a").json()["id"] != post(client, key="b").json()["id"]
    assert len(stored(client)) == 2


def test_without_a_key_every_request_stores_a_new_object(client):
    for _ in range(2):
        client.post("/api/status", json={"client_name": "probe"})
    assert len(stored(client)) == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "naïve"])
def test_a_malformed_key_is_422(client, key):
    response = client.post(
        "/api/status", json={"client_name": "p"}, headers={"Idempotency-Key": key.encode()}
    )
    assert response.status_code == 422
    assert stored(client) == []


def test_concurrent_requests_with_one_key_store_one_object(app, client):
    async def burst():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return await asyncio.gather(
                *(
                    http.post(
                        "/api/status",
                        json={"client_name": "same"},
                        headers={"Idempotency-Key": "k"},
                    )
                    for _ in range(20)
                )
            )

    responses = client.portal.call(burst)
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert len(stored(client)) == 1


def test_a_retry_completes_a_request_cut_off_between_its_two_writes(app, client):
    first = post(client).json()

    async def lose_the_stored_object():
        db = await app.state.mongo.database()
        await db["status_checks"].delete_one({"_id": first["id"]})

    client.portal.call(lose_the_stored_object)
    assert stored(client) == []
    assert post(client).json() == first
    assert stored(client) == [first]


def test_keys_expire_after_a_day(app, client):
    post(client)

    async def ttl_indexes():
        db = await app.state.mongo.database()
        info = await db["idempotency_keys"].index_information()
        return [(i["key"], i.get("expireAfterSeconds")) for i in info.values()]

    assert ([("created_at", 1)], 24 * 60 * 60) in client.portal.call(ttl_indexes)


def test_a_key_that_expires_during_its_request_is_409(request, client, monkeypatch):
    post(client)
    # The TTL monitor removes the key's record between the request's insert and its read.
    if request.node.callspec.params["app"] == "embedded":
        import mongomock_motor

        async def expired(self, *args, **kwargs):
            return None

        monkeypatch.setattr(mongomock_motor.AsyncMongoMockCollection, "find_one", expired)
    else:
        from mockupdb import OpMsg

        nothing = {"cursor": {"id": 0, "firstBatch": [], "ns": "test.idempotency_keys"}}
        server = request.getfixturevalue("mongod").server
        request.addfinalizer(
            server.autoresponds(OpMsg("find", "idempotency_keys"), **nothing).cancel
        )
    response = post(client)
    assert response.status_code == 409
    assert "retry" in response.json()["detail"]
