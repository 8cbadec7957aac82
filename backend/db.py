"""The MongoDB client: created on first use, one per event loop, behind the `Db` dependency.

Motor is imported here and nowhere else, and only when the first database request arrives (it
costs cold-start time); the routes use pymongo's exception classes, which both drivers share.
Swapping Motor for PyMongo's `AsyncMongoClient` is a change to this module: construct that
instead, and in `Mongo.close` await its `close()` (the embedded store's stays synchronous).
"""

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request

from backend.exceptions import DatabaseUnavailable
from backend.redact import redact
from backend.settings import Settings

if TYPE_CHECKING:
    from motor.motor_asyncio import AsyncIOMotorDatabase

STATUS_CHECKS = "status_checks"
IDEMPOTENCY_KEYS = "idempotency_keys"
IDEMPOTENCY_KEY_TTL_SECONDS = 24 * 60 * 60


class Mongo:
    """Owns the client. `database()` hands out the one that serves the running event loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._indexed = False

    @property
    def embedded(self) -> bool:
        """True when the in-memory store stands in for MongoDB (local, MONGO_URL unset)."""
        return self.settings.mongo_url is None and not self.settings.vercel

    async def database(self) -> "AsyncIOMotorDatabase":
        # A driver client binds to the loop of its first operation and fails on any other
        # (TestClient blocks, reloads): keep one per loop. The in-memory store is bound to no
        # loop and holds the data, so it is kept.
        loop = None if self.embedded else asyncio.get_running_loop()
        if self._client is None or loop is not self._loop:
            await self.close()
            self._client, self._loop, self._indexed = self._connect(), loop, False
        db = self._client[self.settings.db_name]
        if not self._indexed:
            await asyncio.gather(
                db[STATUS_CHECKS].create_index([("timestamp", -1), ("_id", -1)]),
                db[IDEMPOTENCY_KEYS].create_index(
                    "created_at", expireAfterSeconds=IDEMPOTENCY_KEY_TTL_SECONDS
                ),
            )
            self._indexed = True
        return db

    async def close(self) -> None:
        if self._client is not None:
            self._client.close()  # AsyncMongoClient: `await self._client.close()`
            self._client = None

    def _connect(self) -> Any:
        settings = self.settings
        if settings.mongo_url is None:
            if settings.vercel:
                raise DatabaseUnavailable(
                    "MONGO_URL is not set. A Vercel deployment never uses the in-memory "
                    "database: add MONGO_URL under Project Settings > Environment Variables, "
                    "then redeploy."
                )
            try:
                from mongomock_motor import AsyncMongoMockClient
            except ImportError:
                raise DatabaseUnavailable(
                    "MONGO_URL is not set and the embedded database (mongomock-motor) is not "
                    "installed: set MONGO_URL, or pip install -r requirements-dev.txt."
                ) from None
            return AsyncMongoMockClient(tz_aware=True)

        from motor.motor_asyncio import AsyncIOMotorClient
        from pymongo.errors import PyMongoError

        url = settings.mongo_url_value
        timeout_ms = settings.mongo_timeout_ms
        try:
            return AsyncIOMotorClient(
                url,
                timeoutMS=timeout_ms,
                serverSelectionTimeoutMS=timeout_ms,
                connectTimeoutMS=timeout_ms,
                maxPoolSize=settings.mongo_max_pool_size,
                maxIdleTimeMS=60_000,
                tz_aware=True,
                appname="fastapi-vercel-mongodb",
            )
        except (PyMongoError, ValueError, OSError) as exc:
            raise DatabaseUnavailable(
                f"MONGO_URL is not a valid MongoDB connection string "
                f"({type(exc).__name__}: {redact(str(exc), url)}). Expected "
                "mongodb://HOST:PORT/ or mongodb+srv://CLUSTER/, with USER:PASSWORD@ before the "
                "host and special characters in the password percent-encoded."
            ) from None


def _as_unavailable(exc: Exception, settings: Settings) -> DatabaseUnavailable | None:
    """The 503 a driver failure deserves, or None when it is a bug that should stay a 500."""
    if isinstance(exc, DatabaseUnavailable):
        return exc
    from pymongo.errors import (
        ConfigurationError,
        ConnectionFailure,
        OperationFailure,
        PyMongoError,
    )

    name = type(exc).__name__
    timeout_ms = settings.mongo_timeout_ms
    if isinstance(exc, ConnectionFailure) and exc.timeout:
        return DatabaseUnavailable(
            f"The database did not answer within MONGO_TIMEOUT_MS={timeout_ms} ({name}). "
            "Check that MONGO_URL names the right host, that the server is running, and that "
            "its network access list admits this server (Atlas: Network Access).",
            transient=True,
        )
    if isinstance(exc, PyMongoError) and exc.timeout:
        # ExecutionTimeout: the server was reached, but the operation ran out of time.
        return DatabaseUnavailable(
            f"The database did not finish within MONGO_TIMEOUT_MS={timeout_ms} ({name}): "
            "the server is slow or overloaded. Retry, or raise MONGO_TIMEOUT_MS.",
            transient=True,
        )
    if isinstance(exc, ConnectionFailure):
        return DatabaseUnavailable(
            f"The connection to the database failed ({name}). It is retried on the next "
            "request; if it persists, check the server and MONGO_URL.",
            transient=True,
        )
    # 18 AuthenticationFailed, 13 Unauthorized; Atlas answers a bad password with 8000.
    if isinstance(exc, OperationFailure) and exc.code in (13, 18, 8000):
        return DatabaseUnavailable(
            f"The database rejected the credentials in MONGO_URL ({name}, code {exc.code}). "
            "Check the user name, the password (percent-encoded) and the user's roles."
        )
    if isinstance(exc, ConfigurationError):
        return DatabaseUnavailable(
            f"MONGO_URL could not be used ({name}: {redact(str(exc), settings.mongo_url_value)})."
        )
    return None


async def get_db(request: Request) -> AsyncIterator["AsyncIOMotorDatabase"]:
    mongo: Mongo = request.app.state.mongo
    try:
        yield await mongo.database()
    except Exception as exc:
        unavailable = _as_unavailable(exc, mongo.settings)
        if unavailable is None:
            raise
        raise unavailable from None


Db = Annotated["AsyncIOMotorDatabase", Depends(get_db)]
