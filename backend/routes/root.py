"""The API root: answers without the database."""

from fastapi import APIRouter

from backend.models import Message

router = APIRouter(prefix="/api", tags=["root"])


@router.get("/")
async def read_root() -> Message:
    """Say hello (the classic template's first route)."""
    return Message(message="Hello World")
