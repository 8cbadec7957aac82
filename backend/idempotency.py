"""Creates that happen at most once per `Idempotency-Key`, for any collection: a retry with the
same key and body gets the first answer back (`Idempotent-Replayed: true`) and writes nothing,
whatever became of the object since; the same key with another body is a 422. Keys expire
after a day.

A route opts in by declaring `idempotency_key: IdempotencyKey = None` and storing through
`create_once`. Why every interleaving of retries and failures ends well, and the two narrow
windows left: docs/reliability.md#idempotent-creates.
"""

import contextlib
import hashlib
from datetime import datetime
from typing import Annotated, Any

from fastapi import Header, HTTPException, Response
from pydantic import BaseModel

from backend.db import Index

KEYS = "idempotency_keys"
KEY_TTL_SECONDS = 24 * 60 * 60
INDEXES = (Index(KEYS, (("created_at", 1),), {"expireAfterSeconds": KEY_TTL_SECONDS}),)
# A key's record is pending from its claim until the object is stored, then done.
PENDING, DONE = "pending", "done"

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Any unique string (a UUID). A retry with the same key and body returns "
        "the original object and stores nothing new.",
    ),
]


async def create_once(
    db: Any,
    collection: str,
    document: dict[str, Any],
    *,
    body: BaseModel,
    key: str | None,
    now: datetime,
    response: Response,
    scope: str | None = None,
) -> dict[str, Any]:
    """Store `document` in `collection` and return it; with a `key` already claimed, return
    the document its first request meant to store instead. A `scope` (the owner, in
    backend/owners.py) makes the key its own: the same key in another scope is another request.

    The key's record is claimed pending, atomically (of concurrent requests one creates it);
    the object is inserted; the record is marked done. A request that finds the record done
    writes nothing, so nothing done to the object since (a delete, a change) is undone. One
    that finds it pending, its first request cut off before marking it or still running,
    inserts the record's document (a duplicate is no error) and marks it done.
    """
    if key is None:
        await db[collection].insert_one(document)
        return document
    from pymongo.errors import DuplicateKeyError

    # The key holds no space (its pattern), so the record's id names one scope only.
    record_id = f"{collection} {key}" + (f" {scope}" if scope is not None else "")
    fingerprint = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
    record = await _claim(db, record_id, fingerprint, document, now)
    if record is not None:
        if record["fingerprint"] != fingerprint:
            raise HTTPException(
                422, "This Idempotency-Key was used with a different body: use a new key."
            )
        response.headers["Idempotent-Replayed"] = "true"
        document = record["document"]
        if record.get("state") == DONE:
            return document
    with contextlib.suppress(DuplicateKeyError):
        await db[collection].insert_one(document)
    await db[KEYS].update_one({"_id": record_id}, {"$set": {"state": DONE}})
    return document


async def _claim(
    db: Any, record_id: str, fingerprint: str, document: dict[str, Any], now: datetime
) -> dict[str, Any] | None:
    """The key's record as an earlier request left it, or None when this request made it: one
    upsert on the unique `_id`, which the server retries itself when two race to insert."""
    claim = {"fingerprint": fingerprint, "document": document, "state": PENDING, "created_at": now}
    return await db[KEYS].find_one_and_update(
        {"_id": record_id}, {"$setOnInsert": claim}, upsert=True
    )
