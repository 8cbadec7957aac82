"""Health: is the API up, and does the database answer a ping?"""

from fastapi import APIRouter

from backend.db import Db, MongoDep
from backend.errors import error_responses
from backend.models import Health

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health", responses=error_responses(503))
async def read_health(db: Db, mongo: MongoDep) -> Health:
    """Ping the database; 503 with the cause when it does not answer."""
    await db.command("ping")
    return Health(status="ok", database=mongo.mode, driver=mongo.driver)
