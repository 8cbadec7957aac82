"""Where items are stored: the collection, its index, and the reads and writes the item routes
make. Each change is one atomic operation filtered on the item's `version`, so two writers
that read the same version cannot both succeed."""

from typing import Any

from backend import paging

ITEMS = "items"
ORDER = "created_at"  # newest first, then by id
INDEXES = (paging.index(ITEMS, ORDER),)


async def find(db: Any, item_id: str) -> dict[str, Any] | None:
    return await db[ITEMS].find_one({"_id": item_id})


async def update(
    db: Any, item_id: str, versions: dict[str, Any], change: dict[str, Any]
) -> dict[str, Any] | None:
    """Apply `change` to the item if it is one of `versions` (see etags.version_filter) and
    return it as changed; None when no item matched."""
    from pymongo import ReturnDocument

    return await db[ITEMS].find_one_and_update(
        {"_id": item_id, **versions}, change, return_document=ReturnDocument.AFTER
    )


async def delete(db: Any, item_id: str, versions: dict[str, Any]) -> bool:
    """Delete the item if it is one of `versions`; whether one was deleted."""
    return (await db[ITEMS].delete_one({"_id": item_id, **versions})).deleted_count == 1
