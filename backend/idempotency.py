"""Creates that happen at most once per `Idempotency-Key`, for any collection: a retry with the
same key and body gets the original object back (`Idempotent-Replayed: true`) and stores
nothing new; the same key with another body is a 422. Keys expire after a day.

A route opts in by declaring `idempotency_key: IdempotencyKey = None` and storing through
`create_once`.
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
    """Store `document` in `collection` and return it; with a `key` already claimed, store
    nothing and return the document its first request stored. A `scope` (the owner, in
    backend/owners.py) makes the key its own: the same key in another scope is another request.

    The unique `_id` of the key's record decides between concurrent requests; whoever loses
    reads the winner's record. Every request with the key then inserts the document (a duplicate
    is no error), so a request cut off between the two writes is completed by its retry.
    """
    if key is not None:
        fingerprint = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
        # The key holds no space (its pattern), so the record's id names one scope only.
        record_id = f"{collection} {key}" + (f" {scope}" if scope is not None else "")
        document, replayed = await _claim(db, record_id, fingerprint, document, now)
        if replayed:
            response.headers["Idempotent-Replayed"] = "true"
    from pymongo.errors import DuplicateKeyError

    with contextlib.suppress(DuplicateKeyError):
        await db[collection].insert_one(document)
    return document


async def _claim(
    db: Any, record_id: str, fingerprint: str, document: dict[str, Any], now: datetime
) -> tuple[dict[str, Any], bool]:
    from pymongo.errors import DuplicateKeyError

    record = {"_id": record_id, "fingerprint": fingerprint, "document": document, "created_at": now}
    try:
        await db[KEYS].insert_one(record)
        return document, False
    except DuplicateKeyError:
        found = await db[KEYS].find_one({"_id": record_id})
    if found is None:
        raise HTTPException(409, "This Idempotency-Key expired during the request: retry it.")
    if found["fingerprint"] != fingerprint:
        raise HTTPException(
            422, "This Idempotency-Key was used with a different body: use a new key."
        )
    return found["document"], True
