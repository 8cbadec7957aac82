"""Status checks over HTTP: create one (at most once per Idempotency-Key) and page through them."""

import uuid

from fastapi import APIRouter, Request, Response

from backend import paging
from backend.clock import Clock
from backend.db import Db
from backend.errors import error_responses
from backend.idempotency import IdempotencyKey, create_once
from backend.models import StatusCheckCreate, StatusCheckPublic
from backend.status_store import ORDER, SHAPE, STATUS_CHECKS

router = APIRouter(prefix="/api/status", tags=["status"])


@router.post("", status_code=201, responses=error_responses(409, 422, 503))
async def create_status_check(
    body: StatusCheckCreate,
    db: Db,
    clock: Clock,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> StatusCheckPublic:
    """Store a status check; the server chooses its id and timestamp."""
    moment = clock()
    document = SHAPE.to_store(
        {"_id": str(uuid.uuid4()), "client_name": body.client_name, ORDER: moment}
    )
    document = await create_once(
        db, STATUS_CHECKS, document, body=body, key=idempotency_key, now=moment, response=response
    )
    return SHAPE.read(document)


@router.get("", responses=error_responses(422, 503))
async def list_status_checks(
    db: Db,
    request: Request,
    response: Response,
    limit: paging.Limit = 100,
    cursor: paging.Cursor = None,
) -> list[StatusCheckPublic]:
    """List status checks, newest first; `Link: rel="next"` points to the next page."""
    documents = await paging.page(
        db[STATUS_CHECKS], by=ORDER, limit=limit, cursor=cursor, request=request, response=response
    )
    return [SHAPE.read(document) for document in documents]
