"""Each store declares its indexes; a client creates every one of them, once, on its first
database request, however many requests arrive at once."""

import asyncio
import importlib
import pkgutil

import httpx
import pytest

import backend
from backend.server import INDEXES
from tests.conftest import ON_EVERY_DATABASE


@ON_EVERY_DATABASE
def test_every_declared_index_exists_after_the_first_database_request(app, client):
    client.get("/api/health")

    async def index_keys():
        db = await app.state.mongo.database()
        found = set()
        for index in INDEXES:
            for info in (await db[index.collection].index_information()).values():
                found.add((index.collection, tuple(map(tuple, info["key"]))))
        return found

    declared = {(index.collection, index.keys) for index in INDEXES}
    assert declared <= client.portal.call(index_keys)


def test_the_ttl_of_idempotency_keys_is_declared():
    assert [index.options.get("expireAfterSeconds") for index in INDEXES].count(86_400) == 1


@pytest.mark.parametrize("app", ["motor", "pymongo"], indirect=True)
def test_concurrent_first_requests_create_each_declared_index_once(app, client, mongod):
    """Under Fluid compute one instance serves many requests at once: they share one attempt."""
    commands: list[str] = []

    def count(request) -> bool:
        if request.command_name == "createIndexes":
            commands.append(request.doc["createIndexes"])
        return False  # the store answers

    watch = mongod.server.autoresponds(count)

    async def burst():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            paths = ["/api/health", "/api/status", "/api/items"] * 6
            return await asyncio.gather(*(http.get(path) for path in paths))

    try:
        responses = client.portal.call(burst)
    finally:
        watch.cancel()
    assert {r.status_code for r in responses} == {200}
    assert sorted(commands) == sorted(index.collection for index in INDEXES)


def test_every_index_a_backend_module_declares_is_created():
    """A store's INDEXES left out of backend.server.INDEXES would never be created."""
    declared = [
        index
        for module in pkgutil.walk_packages(backend.__path__, "backend.")
        for index in getattr(importlib.import_module(module.name), "INDEXES", ())
    ]
    assert len(declared) > 1
    assert [index for index in declared if index not in INDEXES] == []
