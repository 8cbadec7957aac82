"""The embedded database (backend/embedded.py), in-process: it refuses the updates MongoDB
refuses, with MongoDB's errors; with EMBEDDED_DATA_FILE it keeps every database in that file,
saved before a write's response starts, read back exactly, never written over when unreadable,
and never shared by two servers. Over real HTTP: tests/test_dev_server.py, tests/test_make_dev.py.
"""

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from bson import Binary, Decimal128, Int64, ObjectId, json_util
from bson.errors import InvalidDocument
from fastapi.testclient import TestClient
from pymongo.errors import DuplicateKeyError, OperationFailure, WriteError

from backend.db import Db, Mongo
from backend.embedded import EmbeddedDatabase
from backend.server import create_app
from backend.strict_mongomock import CODE_NAMES
from harness import ROOT
from tests.test_mongod import REFUSED, REFUSED_IDS, STORED, writes


def stored_in(data_file: Path) -> dict:
    """{database: {collection: [documents]}} as the file holds them."""
    data = json_util.loads(data_file.read_text())
    return {
        name: {collection: stored["documents"] for collection, stored in collections.items()}
        for name, collections in data.items()
    }


def log_lines(err: str) -> list[dict]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


# What MongoDB refuses, refused by the store `make dev` and the fast tests use.


def on_the_embedded_store(make_settings, test):
    async def run():
        mongo = Mongo(make_settings())
        try:
            return await test(await mongo.database())
        finally:
            await mongo.close()

    return asyncio.run(run())


@pytest.mark.parametrize(("update", "code", "message"), REFUSED, ids=REFUSED_IDS)
def test_an_update_mongodb_refuses_is_refused_with_its_code_and_message(
    make_settings, update, code, message
):
    write, find_and_modify = writes(update)

    async def test(db):
        await db.things.insert_one(dict(STORED))
        with pytest.raises(WriteError) as as_update:
            await getattr(db.things, write)({"_id": 1}, update)
        with pytest.raises(OperationFailure) as as_command:
            await getattr(db.things, find_and_modify)({"_id": 1}, update)
        return as_update.value, as_command.value, await db.things.find_one()

    as_update, as_command, stored = on_the_embedded_store(make_settings, test)
    assert (as_update.code, as_update.details["errmsg"]) == (code, message)
    assert type(as_command) is OperationFailure
    assert (as_command.code, as_command.details["codeName"]) == (code, CODE_NAMES[code])
    assert as_command.details["errmsg"] == message
    assert stored == STORED


def test_conflicting_operators_are_refused_even_when_no_document_matches(make_settings):
    conflict = {"$set": {"n": 2}, "$unset": {"n": ""}}

    async def test(db):
        codes = []
        for send in (db.things.update_one, db.things.find_one_and_update):
            with pytest.raises(OperationFailure) as refused:
                await send({"_id": "none"}, conflict)
            codes.append(refused.value.code)
        return codes

    assert on_the_embedded_store(make_settings, test) == [40, 40]


def test_an_update_that_fails_half_way_changes_nothing(make_settings):
    async def test(db):
        await db.things.insert_one({"_id": 1, "n": "text", "m": 1})
        with pytest.raises(TypeError):  # $inc of a string (a mongod: WriteError, code 14)
            await db.things.update_one({"_id": 1}, {"$set": {"m": 2}, "$inc": {"n": 1}})
        with pytest.raises(InvalidDocument):  # as the driver raises it, before sending
            await db.things.replace_one({"_id": 1}, {"due": dt.date(2026, 3, 1)})
        return await db.things.find_one()

    assert on_the_embedded_store(make_settings, test) == {"_id": 1, "n": "text", "m": 1}


def test_a_replacement_keeps_the_documents_id_whatever_the_filter(make_settings):
    async def test(db):
        await db.things.insert_one({"_id": 1, "version": 1})
        await db.things.replace_one({"_id": {"$in": [1, 3]}, "version": 1}, {"version": 2})
        return await db.things.find_one()

    assert on_the_embedded_store(make_settings, test) == {"_id": 1, "version": 2}


# The development database: EMBEDDED_DATA_FILE.

EVERY_TYPE = {
    "_id": "an-id",
    "object_id": ObjectId("65f0c0ffee0000000000abcd"),
    "uuid": Binary.from_uuid(uuid.UUID("12345678-1234-5678-1234-567812345678")),
    "at": dt.datetime(2026, 12, 6, 2, 51, 36, 7000, tzinfo=dt.UTC),
    "day": dt.datetime(2026, 3, 1, tzinfo=dt.UTC),  # a date, as MongoDB stores one
    "before_1970": dt.datetime(1969, 7, 20, 20, 17, 40, tzinfo=dt.UTC),
    "count": 3,
    "large": 2**53 + 1,
    "long": Int64(7),
    "ratio": 0.1,
    "whole_float": 1.0,
    "price": Decimal128(Decimal("9.99")),
    "flag": False,
    "nothing": None,
    "tags": ["a", "b"],
    "nested": {"list": [{"x": 1}], "empty": {}},
    "raw": b"\x00\xff",
    "text": "naïve ☃ \u200b",
}


def test_every_stored_type_reads_back_exactly_after_a_reopen(tmp_path):
    data_file = tmp_path / "embedded.json"

    async def store():
        with EmbeddedDatabase(data_file) as embedded:
            await embedded["app"].things.insert_one(dict(EVERY_TYPE))
            embedded.save()

    async def read():
        with EmbeddedDatabase(data_file) as embedded:
            return await embedded["app"].things.find_one()

    asyncio.run(store())
    found = asyncio.run(read())
    assert found == EVERY_TYPE
    assert {k: type(v) for k, v in found.items()} == {
        k: int if type(v) is Int64 else type(v) for k, v in EVERY_TYPE.items()
    }
    assert found["at"].tzinfo is not None


def test_indexes_are_kept_and_a_unique_one_is_enforced_after_a_reopen(tmp_path):
    data_file = tmp_path / "embedded.json"

    async def store():
        with EmbeddedDatabase(data_file) as embedded:
            keys = embedded["app"].keys
            await keys.create_index("email", unique=True)
            await keys.create_index("created_at", expireAfterSeconds=60)
            await keys.create_index([("t", -1), ("_id", -1)])
            await keys.insert_one({"email": "a@example.com"})
            embedded.save()
            return await keys.index_information()

    async def reopen():
        with EmbeddedDatabase(data_file) as embedded:
            keys = embedded["app"].keys
            with pytest.raises(DuplicateKeyError):
                await keys.insert_one({"email": "a@example.com"})
            return await keys.index_information()

    created = asyncio.run(store())
    assert len(created) == 4
    assert asyncio.run(reopen()) == created


def test_a_write_is_in_the_file_before_its_response_starts(make_settings, tmp_path):
    data_file = tmp_path / "embedded.json"
    app = create_app(make_settings(embedded_data_file=data_file))
    seen_at_start: list[dict] = []

    async def watching(scope, receive, send):
        async def watch(message):
            if message["type"] == "http.response.start" and scope["method"] == "POST":
                seen_at_start.append(stored_in(data_file))
            await send(message)

        await app(scope, receive, watch)

    with TestClient(watching) as client:
        item = client.post("/api/items", json={"title": "kept"}).json()
        check = client.post("/api/status", json={"client_name": "kept"}).json()

    items_then, checks_then = (seen["app"] for seen in seen_at_start)
    assert [document["_id"] for document in items_then["items"]] == [item["id"]]
    assert [document["_id"] for document in checks_then["status_checks"]] == [check["id"]]


def test_a_route_added_later_that_writes_and_then_fails_keeps_what_it_wrote(
    make_settings, tmp_path
):
    data_file = tmp_path / "embedded.json"
    app = create_app(make_settings(embedded_data_file=data_file))

    @app.post("/api/notes")
    async def write_then_fail(db: Db) -> None:
        await db.notes.insert_one({"_id": "written"})
        raise RuntimeError("a bug after the write")

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.post("/api/notes").status_code == 500
    assert stored_in(data_file)["app"]["notes"] == [{"_id": "written"}]


def served(make_settings, data_file: Path, **settings) -> TestClient:
    return TestClient(create_app(make_settings(embedded_data_file=data_file, **settings)))


def test_a_write_whose_save_fails_is_a_500_never_a_success(make_settings, tmp_path, monkeypatch):
    def disk_full(self):
        raise OSError(28, "No space left on device")

    with served(make_settings, tmp_path / "embedded.json") as client, monkeypatch.context() as m:
        m.setattr(EmbeddedDatabase, "save", disk_full)
        response = client.post("/api/items", json={"title": "not kept"})
    assert response.status_code == 500
    assert response.json()["detail"].startswith("Internal Server Error.")


def test_what_a_server_stored_is_served_by_the_next_one_on_the_same_file(make_settings, tmp_path):
    data_file = tmp_path / "embedded.json"
    with served(make_settings, data_file) as first:
        item = first.post("/api/items", json={"title": "kept", "description": "across"}).json()
        check = first.post("/api/status", json={"client_name": "kept"}).json()
        changed = first.patch(f"/api/items/{item['id']}", json={"title": "renamed"}).json()
        gone = first.post("/api/items", json={"title": "deleted"}).json()
        assert first.delete(f"/api/items/{gone['id']}").status_code == 204
    with served(make_settings, data_file) as second:
        assert second.get("/api/items").json() == [changed]
        assert second.get("/api/status").json() == [check]
    assert changed["version"] == 2


def test_the_startup_log_says_where_the_data_is_kept_and_how_to_start_empty(
    make_settings, tmp_path, capfd
):
    data_file = tmp_path / "embedded.json"
    with served(make_settings, data_file):
        pass
    [line] = [line for line in log_lines(capfd.readouterr().err) if "embedded" in line["message"]]
    assert line["message"] == (
        f"MONGO_URL is not set: using the embedded database, kept in {data_file}. "
        "Delete it to start empty (`make dev FRESH=1` does)."
    )


@pytest.mark.parametrize(
    ("content", "cause"),
    [
        (b'{"app": {"items": {"documents": [', "JSONDecodeError"),
        (b"[]", "AttributeError"),
        (b'{"app": {"items": {"documents": [{"_id": 1}, {"_id": 1}]}}}', "KeyError"),
        (
            b'{"app": {"items": {"indexes": [], "documents": [{"_id": 1}, {"_id": 1}]}}}',
            "BulkWriteError",
        ),
        (None, "IsADirectoryError"),  # a folder in its place: a file that cannot be read
    ],
    ids=["cut-short", "not-databases", "no-indexes", "duplicate-ids", "a-folder"],
)
def test_a_file_that_cannot_be_read_is_named_at_startup_and_never_written_over(
    make_settings, tmp_path, capfd, content, cause
):
    data_file = tmp_path / "embedded.json"
    if content is None:
        data_file.mkdir()
    else:
        data_file.write_bytes(content)
    with served(make_settings, data_file) as client:
        health = client.get("/api/health")
        create = client.post("/api/items", json={"title": "not stored"})
    err = capfd.readouterr().err
    [line] = [line for line in log_lines(err) if line["level"] == "error"]
    assert line["level"] == "error"
    assert line["message"].startswith(
        f"The development database {data_file} could not be read ({cause}: "
    )
    assert "it was left as it is" in line["message"]
    assert "Delete it to start empty (`make dev FRESH=1` does)." in line["message"]
    assert "Traceback" not in err
    for response in (health, create):
        assert response.status_code == 503
        assert response.json()["detail"].startswith(f"The development database {data_file}")
    if content is not None:
        assert data_file.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["embedded.json", "embedded.json.lock"]


def test_a_second_server_on_the_same_file_is_refused_until_the_first_stops(make_settings, tmp_path):
    data_file = tmp_path / "embedded.json"
    with served(make_settings, data_file) as first:
        first.post("/api/status", json={"client_name": "first"})
        with served(make_settings, data_file) as second:
            refused = second.post("/api/status", json={"client_name": "second"})
        assert refused.status_code == 503
        assert refused.json()["detail"] == (
            f"The development database {data_file} is in use by another process (another "
            "`make dev`, or a script): stop it, or set EMBEDDED_DATA_FILE to another file."
        )
    with served(make_settings, data_file) as third:
        assert [c["client_name"] for c in third.get("/api/status").json()] == ["first"]


def test_without_a_data_file_nothing_is_written(make_settings, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with served(make_settings, None) as client:
        assert client.post("/api/items", json={"title": "in memory"}).status_code == 201
    assert list(tmp_path.iterdir()) == []


def test_a_deployment_never_opens_the_data_file(make_settings, tmp_path):
    data_file = tmp_path / "embedded.json"
    with served(make_settings, data_file, vercel=True) as client:
        health = client.get("/api/health")
    assert health.status_code == 503
    assert health.json()["detail"].startswith("MONGO_URL is not set, nor MONGODB_URI.")
    assert list(tmp_path.iterdir()) == []


def test_a_deployment_never_imports_the_embedded_database():
    """Import time is cold-start time: what only `make dev` uses stays out of a deployment's."""
    loaded = "sorted(m for m in sys.modules if 'embedded' in m or 'mongomock' in m)"
    code = f"import sys, backend.server; print({loaded})"
    env = {**os.environ, "VERCEL": "1", "MONGO_URL": "", "EMBEDDED_DATA_FILE": ""}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env=env
    )
    assert result.stdout.strip() == "[]"
