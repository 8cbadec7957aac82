"""Status checks over HTTP: create one (at most once per Idempotency-Key) and page through them."""

import hashlib
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from pydantic import AfterValidator

from backend import status_store
from backend.db import Db
from backend.errors import error_responses
from backend.models import StatusCheckCreate, StatusCheckPublic
from backend.status_store import KeyExpired, KeyReused, StatusCheck

router = APIRouter(prefix="/api/status", tags=["status"])


def get_clock() -> Callable[[], datetime]:
    """Where timestamps come from; tests override it with a clock they control."""
    return status_store.now


Clock = Annotated[Callable[[], datetime], Depends(get_clock)]
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


def _check_cursor(cursor: str | None) -> str | None:
    if cursor is not None:
        status_store.query_after(cursor)  # InvalidCursor, a ValueError: a 422 like any other
    return cursor


Cursor = Annotated[
    str | None,
    Query(max_length=200, description='Opaque; take it from the `Link: rel="next"` header.'),
    AfterValidator(_check_cursor),
]


@router.post("", status_code=201, responses=error_responses(409, 422, 503))
async def create_status_check(
    body: StatusCheckCreate,
    db: Db,
    clock: Clock,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> StatusCheckPublic:
    """Store a status check; the server chooses its id and timestamp."""
    check = StatusCheck(str(uuid.uuid4()), body.client_name, clock())
    if idempotency_key is not None:
        fingerprint = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
        try:
            check, replayed = await status_store.claim(
                db, idempotency_key, fingerprint, check, clock()
            )
        except KeyExpired:
            raise HTTPException(
                409, "This Idempotency-Key expired during the request: retry it."
            ) from None
        except KeyReused:
            raise HTTPException(
                422, "This Idempotency-Key was used with a different body: use a new key."
            ) from None
        if replayed:
            response.headers["Idempotent-Replayed"] = "true"
    await status_store.insert_once(db, check)
    return StatusCheckPublic.model_validate(check, from_attributes=True)


@router.get("", responses=error_responses(422, 503))
async def list_status_checks(
    db: Db, request: Request, response: Response, limit: Limit = 100, cursor: Cursor = None
) -> list[StatusCheckPublic]:
    """List status checks, newest first; `Link: rel="next"` points to the next page."""
    checks, next_cursor = await status_store.page(db, limit, cursor)
    if next_cursor is not None:
        nxt = request.url.include_query_params(limit=limit, cursor=next_cursor)
        response.headers["Link"] = f'<{nxt.path}?{nxt.query}>; rel="next"'
    return [StatusCheckPublic.model_validate(check, from_attributes=True) for check in checks]
