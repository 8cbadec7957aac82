"""Status checks: create one (at most once per Idempotency-Key) and page through them."""

import base64
import binascii
import contextlib
import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from pydantic import AfterValidator

from backend.db import IDEMPOTENCY_KEYS, STATUS_CHECKS, Db
from backend.errors import error_responses
from backend.models import StatusCheckCreate, StatusCheckPublic

router = APIRouter(prefix="/api/status", tags=["status"])

NEWEST_FIRST = [("timestamp", -1), ("_id", -1)]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

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
Limit = Annotated[int, Query(ge=1, le=1000)]


def _position(cursor: str) -> tuple[datetime, str]:
    """The (timestamp, id) of the last item a cursor was made after; ValueError if none."""
    try:
        millis, _, last_id = base64.urlsafe_b64decode(cursor).decode().partition(".")
        return _EPOCH + timedelta(milliseconds=int(millis)), last_id
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
        raise ValueError("Not a cursor from this API: follow the Link header's next URL.") from None


def _check_cursor(cursor: str | None) -> str | None:
    if cursor is not None:
        _position(cursor)
    return cursor


Cursor = Annotated[
    str | None,
    Query(max_length=200, description='Opaque; take it from the `Link: rel="next"` header.'),
    AfterValidator(_check_cursor),
]


@router.post("", status_code=201, responses=error_responses(409, 422, 503))
async def create_status_check(
    body: StatusCheckCreate, db: Db, response: Response, idempotency_key: IdempotencyKey = None
) -> StatusCheckPublic:
    """Store a status check; the server chooses its id and timestamp."""
    doc = {"_id": str(uuid.uuid4()), "client_name": body.client_name, "timestamp": _now()}
    if idempotency_key is not None:
        doc = await _claim(db, idempotency_key, body, doc, response)
    await _insert_once(db[STATUS_CHECKS], doc)
    return _public(doc)


@router.get("", responses=error_responses(422, 503))
async def list_status_checks(
    db: Db, request: Request, response: Response, limit: Limit = 100, cursor: Cursor = None
) -> list[StatusCheckPublic]:
    """List status checks, newest first; `Link: rel="next"` points to the next page."""
    query = {} if cursor is None else _after(cursor)
    found = db[STATUS_CHECKS].find(query).sort(NEWEST_FIRST).limit(limit + 1)
    docs = await found.to_list(None)
    if len(docs) > limit:
        docs = docs[:limit]
        nxt = request.url.include_query_params(limit=limit, cursor=_cursor(docs[-1]))
        response.headers["Link"] = f'<{nxt.path}?{nxt.query}>; rel="next"'
    return [_public(doc) for doc in docs]


def _now() -> datetime:
    # MongoDB keeps milliseconds: truncate, so the object returned is the object stored.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _public(doc: dict[str, Any]) -> StatusCheckPublic:
    return StatusCheckPublic(
        id=doc["_id"], client_name=doc["client_name"], timestamp=doc["timestamp"]
    )


async def _claim(
    db: Any, key: str, body: StatusCheckCreate, doc: dict[str, Any], response: Response
) -> dict[str, Any]:
    """The status check `key` stands for: `doc` when the key is new, else the first one.

    The unique `_id` of the key's record decides between concurrent requests; whoever loses
    reads the winner's record. Storing the object itself is left to `_insert_once`, which
    every request with the key does, so a request cut off between the two writes is completed
    by its retry.
    """
    from pymongo.errors import DuplicateKeyError

    fingerprint = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
    record = {"_id": key, "fingerprint": fingerprint, "status_check": doc, "created_at": _now()}
    try:
        await db[IDEMPOTENCY_KEYS].insert_one(record)
        return doc
    except DuplicateKeyError:
        record = await db[IDEMPOTENCY_KEYS].find_one({"_id": key})
    if record is None:
        raise HTTPException(409, "This Idempotency-Key expired during the request: retry it.")
    if record["fingerprint"] != fingerprint:
        raise HTTPException(
            422, "This Idempotency-Key was used with a different body: use a new key."
        )
    response.headers["Idempotent-Replayed"] = "true"
    return record["status_check"]


async def _insert_once(collection: Any, doc: dict[str, Any]) -> None:
    from pymongo.errors import DuplicateKeyError

    # A concurrent request with the same Idempotency-Key may have stored it first.
    with contextlib.suppress(DuplicateKeyError):
        await collection.insert_one(doc)


def _cursor(doc: dict[str, Any]) -> str:
    millis = (doc["timestamp"] - _EPOCH) // timedelta(milliseconds=1)
    return base64.urlsafe_b64encode(f"{millis}.{doc['_id']}".encode()).decode()


def _after(cursor: str) -> dict[str, Any]:
    """The query for the items that come after `cursor` in newest-first order."""
    timestamp, last_id = _position(cursor)
    return {
        "$or": [
            {"timestamp": {"$lt": timestamp}},
            {"timestamp": timestamp, "_id": {"$lt": last_id}},
        ]
    }
