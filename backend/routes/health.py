"""Health: is the API up, and does the database answer a ping?"""

from fastapi import APIRouter

from backend.db import Db, MongoDep
from backend.models import Health

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health", responses={503: {"description": "The database does not answer"}})
async def read_health(db: Db, mongo: MongoDep) -> Health:
    """Ping the database; 503 with the cause when it does not answer."""
    await db.command("ping")
    return Health(status="ok", database=mongo.mode, driver=mongo.driver)
