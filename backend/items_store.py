"""Where items are stored: the collection, its index, its shapes, and the reads and writes the
item routes make. Each change is one atomic operation filtered on the item's `version`, so two
writers that read the same version cannot both succeed."""

from typing import Any

from backend import paging
from backend.models import PRIORITY_DEFAULT, ItemPublic
from backend.shapes import Document, Shape

ITEMS = "items"
ORDER = "created_at"  # newest first, then by id
INDEXES = (paging.index(ITEMS, ORDER),)


def add_priority_and_tags(item: Document) -> Document:
    """Shape 1 (title and description) to 2: `priority` and `tags` get the values a create
    without them stores; `due` stays absent, which reads as none."""
    return {"priority": PRIORITY_DEFAULT, "tags": [], **item}


SHAPE = Shape(ITEMS, ItemPublic, upgrades=(add_priority_and_tags,))


async def find(db: Any, item_id: str) -> Document | None:
    return await db[ITEMS].find_one({"_id": item_id})


async def replace(db: Any, stored: Document, document: Document) -> bool:
    """Store `document` in place of `stored` if the item is still that version; whether it was."""
    current = {"_id": stored["_id"], "version": stored["version"]}
    return (await db[ITEMS].replace_one(current, document)).matched_count == 1


async def delete(db: Any, item_id: str, versions: dict[str, Any]) -> bool:
    """Delete the item if it is one of `versions` (see etags.version_filter); whether one was
    deleted."""
    return (await db[ITEMS].delete_one({"_id": item_id, **versions})).deleted_count == 1
