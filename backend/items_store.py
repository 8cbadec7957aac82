"""Where items are stored: the collection, its index, its shapes, and the reads and writes the
item routes make. Each item belongs to the user who created it: the routes reach the collection
only through `Items`, the signed-in user's view of it (backend/owners.py). Each change is one
atomic operation filtered on the item's `version`, so two writers that read the same version
cannot both succeed."""

from typing import Annotated, Any

from fastapi import Depends

from backend import paging
from backend.models import PRIORITY_DEFAULT, ItemPublic
from backend.owners import OWNER, Owned, OwnedBy, unowned
from backend.shapes import Document, Shape

ITEMS = "items"
ORDER = "created_at"  # newest first, then by id
# Every query names the owner: it leads the index, so a user's list reads only their items.
INDEXES = (paging.index(ITEMS, ORDER, within=OWNER),)

Items = Annotated[Owned, Depends(OwnedBy(ITEMS))]


def add_priority_and_tags(item: Document) -> Document:
    """Shape 1 (title and description) to 2: `priority` and `tags` get the values a create
    without them stores; `due` stays absent, which reads as none."""
    return {"priority": PRIORITY_DEFAULT, "tags": [], **item}


# Shape 2 to 3: `owner`, None for an item stored before items had owners.
SHAPE = Shape(ITEMS, ItemPublic, upgrades=(add_priority_and_tags, unowned))


async def find(items: Owned, item_id: str) -> Document | None:
    return await items.find_one({"_id": item_id})


async def replace(items: Owned, stored: Document, document: Document) -> bool:
    """Store `document` in place of `stored` if the item is still that version; whether it was."""
    return await items.replace_one({"_id": stored["_id"], "version": stored["version"]}, document)


async def delete(items: Owned, item_id: str, versions: dict[str, Any]) -> bool:
    """Delete the item if it is one of `versions` (see etags.version_filter); whether one was
    deleted."""
    return await items.delete_one({"_id": item_id, **versions})
