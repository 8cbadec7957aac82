"""Each user's documents are theirs: `Owned` is one owner's view of a collection, the only way an
owned resource's routes reach it. Every query it runs is filtered on the owner and every
document it stores carries the owner, so a route can neither forget the filter nor reach
another owner's documents: those are exactly like documents that do not exist.

The owner is the signed-in user's `sub` (backend/identity.py); without AUTH_ISSUER it is None,
which names the documents nobody owns (stored before sign-in was set up, or without it).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Response
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel

from backend.db import Db
from backend.idempotency import create_once
from backend.identity import User, dependencies
from backend.shapes import Document

OWNER = "owner"


def unowned(document: Document) -> Document:
    """The upgrade step of a collection that starts recording owners: a document stored before
    belongs to nobody (no user reaches it) until `make migrate OWNER=<sub>` gives it to one."""
    return {OWNER: None, **document}


@dataclass(frozen=True)
class Owned:
    """Collection `name` of `db` as `owner` sees it: the few operations the routes need, each
    scoped to the owner. Add one here (scoped the same way) rather than reach `db` directly."""

    db: Any
    name: str
    owner: str | None

    def _mine(self, query: dict[str, Any]) -> dict[str, Any]:
        return {**query, OWNER: self.owner}

    def find(self, query: dict[str, Any]) -> Any:
        """A cursor over the owner's documents that match `query`."""
        return self.db[self.name].find(self._mine(query))

    async def find_one(self, query: dict[str, Any]) -> Document | None:
        return await self.db[self.name].find_one(self._mine(query))

    async def replace_one(self, query: dict[str, Any], document: Document) -> bool:
        """Whether one of the owner's documents matched `query` and is now `document`."""
        replaced = await self.db[self.name].replace_one(self._mine(query), self._mine(document))
        return replaced.matched_count == 1

    async def delete_one(self, query: dict[str, Any]) -> bool:
        """Whether one of the owner's documents matched `query` and was deleted."""
        return (await self.db[self.name].delete_one(self._mine(query))).deleted_count == 1

    async def create_once(
        self,
        document: Document,
        *,
        body: BaseModel,
        key: str | None,
        now: datetime,
        response: Response,
    ) -> Document:
        """Store `document` as the owner's, at most once per Idempotency-Key of this owner
        (backend/idempotency.py): another user's same key is another request."""
        return await create_once(
            self.db,
            self.name,
            self._mine(document),
            body=body,
            key=key,
            scope=self.owner,
            now=now,
            response=response,
        )


class OwnedBy:
    """The dependency that hands a route the signed-in user's view of `collection`:
    `Items = Annotated[Owned, Depends(OwnedBy(ITEMS))]`. The user comes first, so a request
    without a valid token costs no database work."""

    def __init__(self, collection: str) -> None:
        self.collection = collection

    async def __call__(self, user: User, db: Db) -> Owned:
        return Owned(db, self.collection, user)


def owned_collections(app: FastAPI) -> set[str]:
    """The collections the app's routes reach through `OwnedBy`: those whose documents have
    owners (what `make migrate OWNER=<sub>` gives the unowned ones of)."""
    return {
        call.collection
        for route in iter_route_contexts(app.router.routes)
        for call in dependencies(route)
        if isinstance(call, OwnedBy)
    }
