"""Items over HTTP, the whole lifecycle: create (at most once per Idempotency-Key), list, read
(304 while unchanged), change by JSON Merge Patch and delete, both conditional on If-Match.

An id that names no item, whatever its form, is a 404: ids are opaque to clients.
"""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request, Response

from backend import items_store, paging
from backend.clock import Clock
from backend.db import Db
from backend.errors import error_responses
from backend.etags import IfMatch, IfNoneMatch, etag, none_match, version_filter
from backend.idempotency import IdempotencyKey, create_once
from backend.items_store import ITEMS, ORDER
from backend.models import ItemCreate, ItemPublic, ItemUpdate

router = APIRouter(prefix="/api/items", tags=["items"])

NOT_FOUND = "No item has this id."
CHANGED = (
    "The item is no longer the version If-Match names: read it again (GET) and send its new ETag."
)
MergePatch = Annotated[ItemUpdate, Body(media_type="application/merge-patch+json")]


@router.post("", status_code=201, responses=error_responses(422, 503))
async def create_item(
    body: ItemCreate,
    db: Db,
    clock: Clock,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> ItemPublic:
    """Store an item; the server chooses its id, timestamps and version. `Location` is its URL."""
    moment = clock()
    document = {
        "_id": str(uuid.uuid4()),
        **body.model_dump(exclude_none=True),
        "created_at": moment,
        "updated_at": moment,
        "version": 1,
    }
    document = await create_once(
        db, ITEMS, document, body=body, key=idempotency_key, now=moment, response=response
    )
    response.headers["Location"] = f"{router.prefix}/{document['_id']}"
    response.headers["ETag"] = etag(document)
    return ItemPublic.from_document(document)


@router.get("", responses=error_responses(422, 503))
async def list_items(
    db: Db,
    request: Request,
    response: Response,
    limit: paging.Limit = 100,
    cursor: paging.Cursor = None,
) -> list[ItemPublic]:
    """List items, newest first; `Link: rel="next"` points to the next page."""
    documents = await paging.page(
        db[ITEMS], by=ORDER, limit=limit, cursor=cursor, request=request, response=response
    )
    return [ItemPublic.from_document(document) for document in documents]


@router.get(
    "/{item_id}",
    response_model=ItemPublic,
    responses={
        304: {"description": "Not Modified: If-None-Match holds the item's ETag"},
        **error_responses(404, 422, 503),
    },
)
async def read_item(
    item_id: str, db: Db, response: Response, if_none_match: IfNoneMatch = None
) -> ItemPublic | Response:
    """Read one item; its `ETag` is its version."""
    document = await items_store.find(db, item_id)
    if document is None:
        raise HTTPException(404, NOT_FOUND)
    if not none_match(if_none_match, document):
        return Response(status_code=304, headers={"ETag": etag(document)})
    response.headers["ETag"] = etag(document)
    return ItemPublic.from_document(document)


@router.patch("/{item_id}", responses=error_responses(404, 412, 422, 503))
async def update_item(
    item_id: str,
    patch: MergePatch,
    db: Db,
    clock: Clock,
    response: Response,
    if_match: IfMatch = None,
) -> ItemPublic:
    """Change an item by JSON Merge Patch: the fields sent replace the stored ones, and
    `"description": null` removes the description. Every change adds one to `version`."""
    fields = patch.model_dump(exclude_unset=True)
    change: dict[str, Any] = {
        "$set": {**{k: v for k, v in fields.items() if v is not None}, "updated_at": clock()},
        "$inc": {"version": 1},
    }
    if removed := {k: "" for k, v in fields.items() if v is None}:
        change["$unset"] = removed
    document = await items_store.update(db, item_id, version_filter(if_match), change)
    if document is None:
        raise await _missing_or_changed(db, item_id)
    response.headers["ETag"] = etag(document)
    return ItemPublic.from_document(document)


@router.delete("/{item_id}", status_code=204, responses=error_responses(404, 412, 503))
async def delete_item(item_id: str, db: Db, if_match: IfMatch = None) -> None:
    """Delete an item."""
    if not await items_store.delete(db, item_id, version_filter(if_match)):
        raise await _missing_or_changed(db, item_id)


async def _missing_or_changed(db: Any, item_id: str) -> HTTPException:
    """Why a write matched nothing: no such item (404), or not the version If-Match names
    (412)."""
    if await items_store.find(db, item_id) is None:
        return HTTPException(404, NOT_FOUND)
    return HTTPException(412, CHANGED)
