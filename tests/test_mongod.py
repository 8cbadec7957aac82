"""harness.mongod: both real drivers, over a socket, store and read back through it."""

import asyncio
import inspect
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mockupdb import OpMsg
from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.errors import DuplicateKeyError, OperationFailure, WriteError

from backend.strict_mongomock import CODE_NAMES
from harness.mongod import Mongod

pytestmark = pytest.mark.slow

TIMEOUT_MS = 3000
CONCURRENT = 16
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def motor_client(*args: Any, **kwargs: Any) -> Any:
    from motor.motor_asyncio import AsyncIOMotorClient

    return AsyncIOMotorClient(*args, **kwargs)


DRIVERS = {"motor": motor_client, "pymongo": AsyncMongoClient}


@pytest.fixture
def mongod(start_mongod: Callable[..., Mongod]) -> Mongod:
    return start_mongod()


@pytest.fixture(params=sorted(DRIVERS))
def run(request) -> Callable[..., Any]:
    """`run(test, url, **client_options)`: `await test(database)` on a new client and loop."""

    async def with_client(test, url: str, **options: Any) -> Any:
        options = {"tz_aware": True, "timeoutMS": TIMEOUT_MS} | options
        client = DRIVERS[request.param](url, **options)
        try:
            return await test(client.get_default_database())
        finally:
            closing = client.close()  # AsyncMongoClient's is a coroutine, Motor's is not
            if inspect.isawaitable(closing):
                await closing

    return lambda test, url, **options: asyncio.run(with_client(test, url, **options))


async def to_list(cursor: Any) -> list[dict[str, Any]]:
    return [document async for document in cursor]


def test_a_document_inserted_is_found_with_its_utc_datetime(mongod, run):
    async def test(db):
        document = {"_id": "a", "name": "first", "at": T0}
        assert (await db.things.insert_one(document)).inserted_id == "a"
        assert await db.things.find_one({"_id": "a"}) == document
        assert (await db.things.find_one({"at": {"$gte": T0}}))["at"].tzinfo is not None
        assert await db.things.find_one({"_id": "a"}, {"name": 1}) == {"_id": "a", "name": "first"}
        assert await db.things.find_one({"_id": "none"}) is None
        return await db.things.find_one()

    assert run(test, mongod.url()) == {"_id": "a", "name": "first", "at": T0}


def test_find_sorts_on_compound_keys_limits_skips_and_pages_by_key(mongod, run):
    async def test(db):
        await db.things.insert_many(
            [{"_id": i, "t": T0 + timedelta(minutes=i // 2)} for i in range(6)]
        )
        newest_first = [("t", -1), ("_id", -1)]
        page = await to_list(db.things.find().sort(newest_first).limit(2))
        last = page[-1]
        after = {"$or": [{"t": {"$lt": last["t"]}}, {"t": last["t"], "_id": {"$lt": last["_id"]}}]}
        next_page = await to_list(db.things.find(after).sort(newest_first).limit(2))
        skipped = await to_list(db.things.find().sort("_id", 1).skip(4))
        return [d["_id"] for d in page + next_page + skipped]

    assert run(test, mongod.url()) == [5, 4, 3, 2, 4, 5]


def test_a_duplicate_id_raises_duplicate_key_error_and_stores_nothing(mongod, run):
    async def test(db):
        await db.things.insert_one({"_id": "key", "n": 1})
        with pytest.raises(DuplicateKeyError) as raised:
            await db.things.insert_one({"_id": "key", "n": 2})
        assert raised.value.code == 11000
        return await db.things.count_documents({}), await db.things.find_one({"_id": "key"})

    assert run(test, mongod.url()) == (1, {"_id": "key", "n": 1})


def test_indexes_keep_their_options_and_a_unique_one_is_enforced(mongod, run):
    async def test(db):
        await db.keys.create_index("created_at", expireAfterSeconds=86400)
        await db.keys.create_index([("email", 1)], unique=True)
        await db.keys.insert_one({"email": "a@example.com"})
        with pytest.raises(DuplicateKeyError):
            await db.keys.insert_one({"email": "a@example.com"})
        return await db.keys.index_information()

    indexes = run(test, mongod.url())
    assert indexes["created_at_1"] == {
        "v": 2,
        "key": [("created_at", 1)],
        "expireAfterSeconds": 86400,
    }
    assert indexes["email_1"]["unique"] is True


def test_updates_deletes_and_counts(mongod, run):
    async def test(db):
        await db.things.insert_many([{"_id": i, "even": i % 2 == 0} for i in range(5)])
        assert (
            await db.things.update_many({"even": True}, {"$set": {"seen": 1}})
        ).modified_count == 3
        assert (
            await db.things.update_one({"_id": 9}, {"$set": {"seen": 2}}, upsert=True)
        ).upserted_id == 9
        assert (await db.things.delete_one({"even": False})).deleted_count == 1
        assert (await db.things.delete_many({"even": True})).deleted_count == 3
        return await db.things.count_documents({}), await db.things.estimated_document_count()

    assert run(test, mongod.url()) == (2, 2)


def test_a_fault_pushed_on_top_wins_and_cancelling_it_restores_the_store(mongod, run):
    async def test(db):
        await db.things.insert_one({"_id": 1})
        fault = mongod.server.autoresponds(
            OpMsg("find", "things"), lambda request: request.command_err(2, "injected")
        )
        with pytest.raises(OperationFailure, match="injected"):
            await db.things.find_one()
        fault.cancel()
        return await db.things.find_one()

    assert run(test, mongod.url()) == {"_id": 1}


def test_a_retryable_write_refused_once_by_a_replica_set_primary_is_stored_once(start_mongod, run):
    mongod = start_mongod(replica_set="rs0")
    inserts: list[dict[str, Any]] = []

    def not_primary_once(request) -> bool:
        inserts.append(request.doc)
        return len(inserts) == 1 and request.command_err(
            10107, "not primary", errorLabels=["RetryableWriteError"]
        )  # then False: the store answers

    mongod.server.autoresponds(OpMsg("insert", "things"), not_primary_once)

    async def test(db):
        await db.things.insert_one({"_id": 1})
        return await db.things.count_documents({})

    assert run(test, mongod.url()) == 1
    assert len(inserts) == 2
    assert inserts[0]["txnNumber"] == inserts[1]["txnNumber"]


def test_connections_counts_the_pool_from_the_wire(mongod, run):
    def slow(request) -> bool:
        time.sleep(0.2)
        return False  # the store answers, late

    async def test(db):
        await db.command("ping")
        assert mongod.connections() == 1  # the monitor's connection only says hello
        mongod.server.autoresponds(OpMsg("find", "things"), slow)
        await asyncio.gather(*(db.things.find_one() for _ in range(4)))

    run(test, mongod.url(maxPoolSize="2"))
    assert mongod.connections() == 2


def test_an_unknown_command_fails_naming_it_and_a_wrong_password_is_refused(mongod, run):
    async def test(db):
        with pytest.raises(OperationFailure, match="frobnicate"):
            await db.command("frobnicate")

    run(test, mongod.url())

    async def refused(db):
        with pytest.raises(OperationFailure) as raised:
            await db.command("ping")
        return raised.value.code

    assert run(refused, mongod.url(password="wrong")) == 18


def test_find_one_and_update_returns_the_document_before_by_default_and_after_on_request(
    mongod, run
):
    async def test(db):
        await db.things.insert_one({"_id": 1, "n": 0})
        before = await db.things.find_one_and_update({"_id": 1}, {"$inc": {"n": 1}})
        after = await db.things.find_one_and_update(
            {"_id": 1}, {"$inc": {"n": 1}}, return_document=ReturnDocument.AFTER
        )
        return before, after, await db.things.find_one({"_id": 1})

    assert run(test, mongod.url()) == ({"_id": 1, "n": 0}, {"_id": 1, "n": 2}, {"_id": 1, "n": 2})


def test_find_one_and_update_takes_the_first_in_sort_order_and_returns_the_projection(mongod, run):
    async def test(db):
        await db.things.insert_many([{"_id": i, "rank": i % 3, "seen": False} for i in range(5)])
        found = await db.things.find_one_and_update(
            {"seen": False},
            {"$set": {"seen": True}},
            sort=[("rank", -1), ("_id", 1)],
            projection={"_id": 1},
            return_document=ReturnDocument.AFTER,
        )
        seen = await to_list(db.things.find({"seen": True}, {"_id": 1}))
        return found, seen

    assert run(test, mongod.url()) == ({"_id": 2}, [{"_id": 2}])


def test_find_one_and_update_matching_nothing_returns_none_and_stores_nothing(mongod, run):
    async def test(db):
        await db.things.insert_one({"_id": 1, "n": 0})
        missed = await db.things.find_one_and_update(
            {"_id": 2}, {"$set": {"n": 5}}, return_document=ReturnDocument.AFTER
        )
        reply = await db.command("findAndModify", "things", query={"_id": 2}, update={"n": 5})
        return missed, reply, await to_list(db.things.find())

    missed, reply, stored = run(test, mongod.url())
    assert missed is None
    assert reply["value"] is None
    assert reply["lastErrorObject"] == {"n": 0, "updatedExisting": False}
    assert stored == [{"_id": 1, "n": 0}]


def test_find_one_and_update_upserts_only_when_asked(mongod, run):
    async def test(db):
        inserted = await db.things.find_one_and_update(
            {"_id": "a"}, {"$set": {"n": 1}}, upsert=True, return_document=ReturnDocument.AFTER
        )
        before_insert = await db.things.find_one_and_update(
            {"_id": "b"}, {"$set": {"n": 2}}, upsert=True
        )
        reply = await db.command(
            "findAndModify", "things", query={"_id": "c"}, update={"$set": {"n": 3}}, upsert=True
        )
        return inserted, before_insert, reply, await to_list(db.things.find().sort("_id", 1))

    inserted, before_insert, reply, stored = run(test, mongod.url())
    assert inserted == {"_id": "a", "n": 1}
    assert before_insert is None
    assert reply["value"] is None
    assert reply["lastErrorObject"] == {"n": 1, "updatedExisting": False, "upserted": "c"}
    assert stored == [{"_id": "a", "n": 1}, {"_id": "b", "n": 2}, {"_id": "c", "n": 3}]


def test_find_one_and_replace_replaces_the_whole_document_keeping_its_id(mongod, run):
    async def test(db):
        await db.things.insert_one({"_id": 1, "old": True, "n": 0})
        before = await db.things.find_one_and_replace({"_id": 1}, {"n": 9})
        missed = await db.things.find_one_and_replace({"_id": 2}, {"n": 9})
        return before, missed, await to_list(db.things.find())

    assert run(test, mongod.url()) == ({"_id": 1, "old": True, "n": 0}, None, [{"_id": 1, "n": 9}])


def test_find_one_and_delete_removes_and_returns_the_first_match(mongod, run):
    async def test(db):
        await db.things.insert_many([{"_id": i, "kind": "x"} for i in range(3)])
        deleted = await db.things.find_one_and_delete({"kind": "x"}, sort=[("_id", -1)])
        missed = await db.things.find_one_and_delete({"kind": "y"})
        reply = await db.command("findAndModify", "things", query={"_id": 0}, remove=True)
        return deleted, missed, reply, await to_list(db.things.find())

    deleted, missed, reply, stored = run(test, mongod.url())
    assert deleted == {"_id": 2, "kind": "x"}
    assert missed is None
    assert reply["value"] == {"_id": 0, "kind": "x"}
    assert reply["lastErrorObject"] == {"n": 1}
    assert stored == [{"_id": 1, "kind": "x"}]


def test_find_one_and_update_onto_a_unique_key_raises_duplicate_key_error(mongod, run):
    async def test(db):
        await db.things.create_index("email", unique=True)
        await db.things.insert_many([{"_id": 1, "email": "a"}, {"_id": 2, "email": "b"}])
        with pytest.raises(DuplicateKeyError) as raised:
            await db.things.find_one_and_update({"_id": 2}, {"$set": {"email": "a"}})
        assert raised.value.code == 11000
        return await db.things.find_one({"_id": 2})

    assert run(test, mongod.url()) == {"_id": 2, "email": "b"}


def test_of_concurrent_updates_expecting_the_same_version_exactly_one_succeeds(mongod, run):
    async def update(db, title):
        return await db.things.find_one_and_update(
            {"_id": 1, "version": 1},
            {"$set": {"title": title}, "$inc": {"version": 1}},
            return_document=ReturnDocument.AFTER,
        )

    async def test(db):
        await db.things.insert_one({"_id": 1, "title": "first", "version": 1})
        results = await asyncio.gather(*(update(db, f"t{i}") for i in range(CONCURRENT)))
        return results, await db.things.find_one({"_id": 1})

    results, stored = run(test, mongod.url())
    (winner,) = [result for result in results if result is not None]
    assert winner == stored
    assert stored["version"] == 2


def test_the_drivers_ask_for_the_new_document_with_new_not_return_document(mongod, run):
    sent: list[dict[str, Any]] = []

    def record(request) -> bool:
        sent.append(request.doc)
        return False  # the store answers

    mongod.server.autoresponds(OpMsg("findAndModify", "things"), record)

    async def test(db):
        await db.things.find_one_and_update(
            {"_id": 1}, {"$set": {"n": 1}}, upsert=True, return_document=ReturnDocument.AFTER
        )
        await db.things.find_one_and_delete({"_id": 1})

    run(test, mongod.url())
    update, delete = sent
    assert (update["new"], update["upsert"], "returnDocument" in update) == (True, True, False)
    assert (delete["remove"], "update" in delete) == (True, False)


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"remove": True, "new": True}, "remove=true"),
        ({"update": [{"$set": {"n": 1}}]}, "an update document"),  # an aggregation pipeline
        ({"update": {"$set": {"n.$[x]": 1}}, "arrayFilters": [{"x": 0}]}, "arrayFilters"),
    ],
    ids=["remove-and-new", "pipeline", "array-filters"],
)
def test_find_and_modify_refuses_what_it_cannot_do_naming_it(mongod, run, fields, named):
    async def test(db):
        await db.things.insert_one({"_id": 1, "n": [0]})
        with pytest.raises(OperationFailure, match=re.escape(named)):
            await db.command("findAndModify", "things", query={"_id": 1}, **fields)
        return await db.things.find_one()

    assert run(test, mongod.url()) == {"_id": 1, "n": [0]}


# What a mongod refuses and mongomock applied: each update (operators, or a replacement) of
# STORED, with the code and message a mongod answers (MongoDB 7).
STORED = {"_id": 1, "n": 1, "a": {"b": 1}, "version": 1}
DOLLAR = (
    "The dollar ($) prefixed field '$x' in '$x' is not allowed in the context of an update's "
    "replacement document. Consider using an aggregation pipeline with $replaceWith."
)
REFUSED = [
    (
        {"$set": {"n": 2}, "$unset": {"n": ""}},
        40,
        "Updating the path 'n' would create a conflict at 'n'",
    ),
    (
        {"$set": {"a": {}}, "$inc": {"a.b": 1}},
        40,
        "Updating the path 'a.b' would create a conflict at 'a'",
    ),
    (
        {"$set": {"a.b": 2}, "$unset": {"a": ""}},
        40,
        "Updating the path 'a' would create a conflict at 'a'",
    ),
    (
        {"$rename": {"n": "m"}, "$set": {"m": 2}},
        40,
        "Updating the path 'm' would create a conflict at 'm'",
    ),
    (
        {"$set": {"_id": 2}},
        66,
        "Performing an update on the path '_id' would modify the immutable field '_id'",
    ),
    (
        {"_id": 2, "n": 2},
        66,
        "After applying the update, the (immutable) field '_id' was found to have been "
        "altered to _id: 2",
    ),
    ({"$set": {"$x": 2}}, 52, DOLLAR),
    ({"n": 2, "$x": 2}, 52, DOLLAR),
]
REFUSED_IDS = [
    "set-and-unset",
    "path-inside-another",
    "path-around-another",
    "rename-onto-a-set",
    "set-id",
    "replace-id",
    "set-dollar-field",
    "replace-with-dollar-field",
]


def writes(update: dict[str, Any]) -> tuple[str, str]:
    """The collection methods that send `update`: an update and a findAndModify."""
    if next(iter(update)).startswith("$"):
        return "update_one", "find_one_and_update"
    return "replace_one", "find_one_and_replace"


@pytest.mark.parametrize(("update", "code", "message"), REFUSED, ids=REFUSED_IDS)
def test_an_update_a_mongod_refuses_is_refused_with_its_code_and_message(
    mongod, run, update, code, message
):
    write, find_and_modify = writes(update)

    async def test(db):
        await db.things.insert_one(STORED)
        with pytest.raises(WriteError) as as_update:
            await getattr(db.things, write)({"_id": 1}, update)
        with pytest.raises(OperationFailure) as as_command:
            await getattr(db.things, find_and_modify)({"_id": 1}, update)
        return as_update.value, as_command.value, await db.things.find_one()

    as_update, as_command, stored = run(test, mongod.url())
    assert (as_update.code, as_update.details["errmsg"]) == (code, message)
    # findAndModify fails the command: an OperationFailure, not a WriteError.
    assert type(as_command) is OperationFailure
    assert (as_command.code, as_command.details["errmsg"]) == (code, message)
    assert as_command.details["codeName"] == CODE_NAMES[code]
    assert stored == STORED


def test_conflicting_operators_are_refused_even_when_no_document_matches(mongod, run):
    conflict = {"$set": {"n": 2}, "$unset": {"n": ""}}

    async def test(db):
        codes = []
        for send in (db.things.update_one, db.things.find_one_and_update):
            with pytest.raises(OperationFailure) as refused:
                await send({"_id": "none"}, conflict, upsert=send is db.things.update_one)
            codes.append(refused.value.code)
        return codes, await db.things.count_documents({})

    assert run(test, mongod.url()) == ([40, 40], 0)


def test_an_update_that_fails_half_way_changes_nothing(mongod, run):
    async def test(db):
        await db.things.insert_one({"_id": 1, "n": "text", "m": 1})
        for send in (db.things.update_one, db.things.find_one_and_update):
            with pytest.raises(OperationFailure):  # $inc of a string; a mongod: code 14
                await send({"_id": 1}, {"$set": {"m": 2}, "$inc": {"n": 1}})
        return await db.things.find_one()

    assert run(test, mongod.url()) == {"_id": 1, "n": "text", "m": 1}


def test_a_replacement_keeps_the_documents_id_whatever_the_filter(mongod, run):
    async def test(db):
        await db.things.insert_many([{"_id": 1, "version": 1}, {"_id": 2, "version": 1}])
        replaced = await db.things.replace_one(
            {"_id": {"$in": [1, 3]}, "version": 1}, {"version": 2, "n": 1}
        )
        found = await db.things.find_one_and_replace(
            {"_id": {"$gt": 1}, "version": 1}, {"version": 2}, return_document=ReturnDocument.AFTER
        )
        return replaced.modified_count, found, await to_list(db.things.find().sort("_id", 1))

    assert run(test, mongod.url()) == (
        1,
        {"_id": 2, "version": 2},
        [{"_id": 1, "version": 2, "n": 1}, {"_id": 2, "version": 2}],
    )
