"""`make migrate`: upgrade every stored document of every resource to its shape of today
(backend/shapes.py), in the database the settings name: MONGO_URL or MONGODB_URI, else the
development database (EMBEDDED_DATA_FILE, which the Makefile sets as `make dev` does; it is
refused while `make dev` holds it).

A dry run unless `--apply` (`make migrate APPLY=1`): it reads and upgrades in memory, writes
nothing, and says what it would change. Documents are read in batches of `--batch`, in `_id`
order, and each is replaced only while it is still in the shape it was read in: a write the API
makes meanwhile (which stores today's shape) wins, a second run finds nothing to do, and a run
stopped half-way is finished by the next. It prints counts, ids of documents it cannot upgrade,
and the name of the variable it connected with: never the connection string.

`--owner SUB` (`make migrate OWNER=<sub>`) then gives every document nobody owns, in each
collection whose documents have owners (backend/owners.py), to the user whose `sub` that is:
the items stored before AUTH_ISSUER was set, which no user reaches until then.
"""

import argparse
import asyncio
import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any

from backend.db import Mongo, as_unavailable
from backend.exceptions import SettingsError
from backend.owners import OWNER
from backend.settings import load_settings
from backend.shapes import FIRST, VERSION_FIELD, Shape, UnservableDocument

DEFAULT_BATCH = 500
NOTHING_TO_MIGRATE = (
    "Neither MONGO_URL, MONGODB_URI nor EMBEDDED_DATA_FILE is set: there is no stored data to "
    "migrate. Set the deployment's connection string, or run `make migrate` (which names the "
    "development database)."
)


async def migrate_shape(db: Any, shape: Shape, *, apply: bool, batch: int) -> tuple[Counter, list]:
    """The documents of `shape.collection` stored in an earlier shape, counted by that shape
    (and upgraded if `apply`), and the ids of those that cannot be upgraded, with why."""
    collection = db[shape.collection]
    upgraded: Counter[int] = Counter()
    failed: list[tuple[Any, str]] = []
    last_id = None
    while True:
        query = shape.earlier()
        if last_id is not None:
            query = {"$and": [query, {"_id": {"$gt": last_id}}]}
        documents = await collection.find(query).sort("_id", 1).limit(batch).to_list(None)
        for document in documents:
            stored = document.get(VERSION_FIELD, FIRST)
            try:
                today = shape.to_store(shape.upgrade(document))
            except UnservableDocument as exc:
                failed.append((document["_id"], str(exc)))
                continue
            if apply and not await _replace_if_unchanged(collection, document, today):
                continue  # the API stored it in today's shape meanwhile
            upgraded[stored] += 1
        if len(documents) < batch:
            return upgraded, failed
        last_id = documents[-1]["_id"]


async def _replace_if_unchanged(collection: Any, document: dict, today: dict) -> bool:
    unchanged = {"$exists": False}
    if VERSION_FIELD in document:
        unchanged = document[VERSION_FIELD]
    query = {"_id": document["_id"], VERSION_FIELD: unchanged}
    return (await collection.replace_one(query, today)).matched_count == 1


async def give_unowned(db: Any, collection: str, owner: str, *, apply: bool, batch: int) -> int:
    """How many documents of `collection` nobody owns there are, and if `apply`, give them to
    `owner`: in `_id` order, each only while still nobody's."""
    given, last_id = 0, None
    while True:
        query: dict[str, Any] = {OWNER: None}
        if last_id is not None:
            query = {"$and": [query, {"_id": {"$gt": last_id}}]}
        documents = await db[collection].find(query).sort("_id", 1).limit(batch).to_list(None)
        ids = [document["_id"] for document in documents]
        if apply and ids:
            still_nobodys = {"_id": {"$in": ids}, OWNER: None}
            given += (
                await db[collection].update_many(still_nobodys, {"$set": {OWNER: owner}})
            ).modified_count
        else:
            given += len(ids)
        if len(ids) < batch:
            return given
        last_id = ids[-1]


def report(shape: Shape, upgraded: Counter, failed: list, *, apply: bool) -> list[str]:
    verb = "upgraded" if apply else "to upgrade"
    lines = [f"{shape.collection}: today's shape is {shape.version}"]
    if not upgraded and not failed:
        lines[0] += ", every document is in it"
    for version, count in sorted(upgraded.items()):
        lines.append(f"  {count} document(s) of shape {version} {verb} to {shape.version}")
    for document_id, why in failed:
        lines.append(f"  cannot upgrade _id {document_id!r}: {why}")
    return lines


async def run(
    shapes: Sequence[Shape],
    *,
    apply: bool,
    batch: int,
    owner: str | None = None,
    owned: Sequence[str] = (),
) -> int:
    settings = load_settings()
    if settings.database_mode == "embedded" and settings.embedded_data_file is None:
        print(NOTHING_TO_MIGRATE, file=sys.stderr)
        return 2
    mongo = Mongo(settings)
    source = (
        settings.mongo_url_variable or f"the development database, {settings.embedded_data_file}"
    )
    print(f"{'Migrating' if apply else 'Dry run on'} database {mongo.database_name!r} ({source})")
    failures = 0
    try:
        db = await mongo.database()
        for shape in shapes:
            upgraded, failed = await migrate_shape(db, shape, apply=apply, batch=batch)
            mongo.save()  # the development database's file: a no-op on MongoDB
            print("\n".join(report(shape, upgraded, failed, apply=apply)))
            failures += len(failed)
        for collection in owned if owner is not None else ():
            given = await give_unowned(db, collection, owner, apply=apply, batch=batch)
            verb = "given" if apply else "to give"
            print(f"{collection}: {given} document(s) nobody owns {verb} to {owner!r}")
    except Exception as exc:
        unavailable = as_unavailable(exc, settings)
        if unavailable is None:
            raise
        print(f"Stopped: {unavailable}", file=sys.stderr)
        return 2
    finally:
        await mongo.close()
    if not apply:
        print("Nothing was written. `make migrate APPLY=1` writes these changes.")
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apply", action="store_true", help="write the upgrades")
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="documents per read")
    parser.add_argument("--owner", help="give the documents nobody owns to the user of this sub")
    args = parser.parse_args()
    if args.owner is not None and not args.owner.strip():
        parser.error("--owner needs the sub of a user: make migrate OWNER=<sub>")
    try:
        from backend.owners import owned_collections
        from backend.server import SHAPES, app
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    owned = sorted(owned_collections(app))
    return asyncio.run(
        run(SHAPES, apply=args.apply, batch=max(1, args.batch), owner=args.owner, owned=owned)
    )


if __name__ == "__main__":
    sys.exit(main())
