"""Keyset paging, newest first, for any collection: `page()` reads one page and sets the
`Link: <...>; rel="next"` header; `index()` is the index it relies on; `Limit` and `Cursor`
are the query parameters a list route declares.

The order is (a time field, `_id`), both descending. The cursor is the position after the last
item of a page, so following the links visits every item once, even while new ones arrive.
"""

import base64
import binascii
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Query, Request, Response
from pydantic import AfterValidator

from backend.db import Index

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NOT_A_CURSOR = "Not a cursor from this API: follow the Link header's next URL."


def _position(cursor: str) -> tuple[datetime, str]:
    try:
        millis, _, last_id = base64.urlsafe_b64decode(cursor).decode().partition(".")
        return _EPOCH + timedelta(milliseconds=int(millis)), last_id
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
        raise ValueError(NOT_A_CURSOR) from None


def _cursor(moment: datetime, last_id: str) -> str:
    millis = (moment - _EPOCH) // timedelta(milliseconds=1)
    return base64.urlsafe_b64encode(f"{millis}.{last_id}".encode()).decode()


def _check_cursor(cursor: str | None) -> str | None:
    if cursor is not None:
        _position(cursor)  # a ValueError here is a 422 like any other invalid parameter
    return cursor


Limit = Annotated[int, Query(ge=1, le=1000)]
Cursor = Annotated[
    str | None,
    Query(max_length=200, description='Opaque; take it from the `Link: rel="next"` header.'),
    AfterValidator(_check_cursor),
]


def _newest_first(by: str) -> tuple[tuple[str, int], ...]:
    return ((by, -1), ("_id", -1))


def index(collection: str, by: str, *, within: str | None = None) -> Index:
    """The index `page(db[collection], by=by, ...)` reads in order; `within` a field every
    query of the collection matches exactly (the owner), which then leads it."""
    leading = ((within, 1),) if within is not None else ()
    return Index(collection, (*leading, *_newest_first(by)))


async def page(
    collection: Any,
    *,
    by: str,
    limit: int,
    cursor: str | None,
    request: Request,
    response: Response,
) -> list[dict[str, Any]]:
    """Up to `limit` documents of `collection` after `cursor`, newest `by` first; when more
    follow, `response` gets the Link header to the next page."""
    query: dict[str, Any] = {}
    if cursor is not None:
        moment, last_id = _position(cursor)
        query = {"$or": [{by: {"$lt": moment}}, {by: moment, "_id": {"$lt": last_id}}]}
    found = collection.find(query).sort(list(_newest_first(by))).limit(limit + 1)
    documents = await found.to_list(None)
    if len(documents) > limit:
        documents = documents[:limit]
        last = documents[-1]
        nxt = request.url.include_query_params(limit=limit, cursor=_cursor(last[by], last["_id"]))
        response.headers["Link"] = f'<{nxt.path}?{nxt.query}>; rel="next"'
    return documents
