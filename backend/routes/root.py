"""The API root: answers without the database."""

from fastapi import APIRouter

from backend.errors import error_responses
from backend.models import Message

router = APIRouter(prefix="/api", tags=["root"])


@router.get("/", responses=error_responses())
async def read_root() -> Message:
    """Say hello (the classic template's first route)."""
    return Message(message="Hello World")
