"""Items over HTTP, the whole lifecycle: create (at most once per Idempotency-Key), list, read
(304 while unchanged), change by JSON Merge Patch and delete, both conditional on If-Match.

An id that names no item of the user's, whatever its form, is a 404: ids are opaque to clients,
and another user's item is exactly like one that does not exist (`Items`). Every item
is read through `SHAPE` (so an item stored in an earlier shape reads as today's), and every
write stores today's shape, checked to read back before it is written.
"""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request, Response

from backend import items_store, paging
from backend.clock import Clock
from backend.errors import error_responses
from backend.etags import IfMatch, IfNoneMatch, etag, match, none_match, version_filter
from backend.exceptions import DatabaseUnavailable
from backend.idempotency import IdempotencyKey
from backend.items_store import ORDER, SHAPE, Items
from backend.models import ItemCreate, ItemPublic, ItemUpdate

router = APIRouter(prefix="/api/items", tags=["items"])

NOT_FOUND = "No item has this id."
CHANGED = (
    "The item is no longer the version If-Match names: read it again (GET) and send its new ETag."
)
# A change without If-Match is tried again on the version another request just stored; so many
# in a row means the item is changing faster than this request can follow.
MAX_ATTEMPTS = 50
BUSY = "The item changed {n} times while this request tried to change it: retry."
MergePatch = Annotated[ItemUpdate, Body(media_type="application/merge-patch+json")]


@router.post("", status_code=201, responses=error_responses(422, 503))
async def create_item(
    body: ItemCreate,
    items: Items,
    clock: Clock,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> ItemPublic:
    """Store an item; the server chooses its id, timestamps and version. `Location` is its URL."""
    moment = clock()
    document = SHAPE.to_store(
        {
            "_id": str(uuid.uuid4()),
            **body.model_dump(exclude_none=True),
            "created_at": moment,
            "updated_at": moment,
            "version": 1,
        }
    )
    document = await items.create_once(
        document, body=body, key=idempotency_key, now=moment, response=response
    )
    response.headers["Location"] = f"{router.prefix}/{document['_id']}"
    response.headers["ETag"] = etag(document)
    return SHAPE.read(document)


@router.get("", responses=error_responses(422, 503))
async def list_items(
    items: Items,
    request: Request,
    response: Response,
    limit: paging.Limit = 100,
    cursor: paging.Cursor = None,
) -> list[ItemPublic]:
    """List the user's items, newest first; `Link: rel="next"` points to the next page."""
    documents = await paging.page(
        items, by=ORDER, limit=limit, cursor=cursor, request=request, response=response
    )
    return [SHAPE.read(document) for document in documents]


@router.get(
    "/{item_id}",
    response_model=ItemPublic,
    responses={
        304: {"description": "Not Modified: If-None-Match holds the item's ETag"},
        **error_responses(404, 422, 503),
    },
)
async def read_item(
    item_id: str, items: Items, response: Response, if_none_match: IfNoneMatch = None
) -> ItemPublic | Response:
    """Read one item; its `ETag` is its version."""
    document = await items_store.find(items, item_id)
    if document is None:
        raise HTTPException(404, NOT_FOUND)
    if not none_match(if_none_match, document):
        return Response(status_code=304, headers={"ETag": etag(document)})
    response.headers["ETag"] = etag(document)
    return SHAPE.read(document)


@router.patch("/{item_id}", responses=error_responses(404, 412, 422, 503))
async def update_item(
    item_id: str,
    patch: MergePatch,
    items: Items,
    clock: Clock,
    response: Response,
    if_match: IfMatch = None,
) -> ItemPublic:
    """Change an item by JSON Merge Patch: the fields sent replace the stored ones, and `null`
    removes `description` or `due`. Every change adds one to `version`."""
    fields = patch.model_dump(exclude_unset=True)
    for _ in range(MAX_ATTEMPTS):
        stored = await items_store.find(items, item_id)
        if stored is None:
            raise HTTPException(404, NOT_FOUND)
        if not match(if_match, stored):
            raise HTTPException(412, CHANGED)
        document = SHAPE.to_store(_merged(SHAPE.upgrade(stored), fields, clock))
        if await items_store.replace(items, stored, document):
            response.headers["ETag"] = etag(document)
            return SHAPE.read(document)
    raise DatabaseUnavailable(BUSY.format(n=MAX_ATTEMPTS), transient=True)


def _merged(item: dict[str, Any], fields: dict[str, Any], clock: Clock) -> dict[str, Any]:
    """`item` with a merge patch's `fields` applied (None removes), as its next version."""
    merged = {**item, **fields, "updated_at": clock(), "version": item["version"] + 1}
    return {name: value for name, value in merged.items() if value is not None}


@router.delete("/{item_id}", status_code=204, responses=error_responses(404, 412, 503))
async def delete_item(item_id: str, items: Items, if_match: IfMatch = None) -> None:
    """Delete an item."""
    if not await items_store.delete(items, item_id, version_filter(if_match)):
        if await items_store.find(items, item_id) is None:
            raise HTTPException(404, NOT_FOUND)
        raise HTTPException(412, CHANGED)
