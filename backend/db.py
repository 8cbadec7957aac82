"""The MongoDB client: created on first use, one per event loop, behind the `Db` dependency; and
what each driver failure means for the user (a 503 that says what to do).

`MONGO_DRIVER` picks Motor (the default) or PyMongo's `AsyncMongoClient`, its successor; the
embedded store (mongomock-motor) stands in locally when no connection string is set. Each is
imported on the first database request, not at start-up: they cost cold-start time. The routes
see only the database object, whose API the three share, and pymongo's exception classes.
"""

import asyncio
import inspect
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request

from backend.exceptions import DatabaseUnavailable
from backend.log import logger
from backend.redact import redact
from backend.settings import Settings

if TYPE_CHECKING:
    from motor.motor_asyncio import AsyncIOMotorDatabase

# Pooled connections idle this long are dropped, and the driver checks it when it takes one from
# the pool: after Vercel resumed a suspended instance, a connection the server or the network
# closed meanwhile is replaced instead of failing a request (Vercel suggests ~5 s for pools).
MAX_IDLE_TIME_MS = 5_000


@dataclass(frozen=True)
class Index:
    """An index a store relies on: `Index("items", (("created_at", -1), ("_id", -1)))`.
    `options` are create_index's (`unique`, `expireAfterSeconds`...)."""

    collection: str
    keys: tuple[tuple[str, int], ...]
    options: Mapping[str, Any] = field(default_factory=dict)


class Mongo:
    """Owns the client. `database()` hands out the one that serves the running event loop,
    after every index in `indexes` has been created once for it."""

    def __init__(self, settings: Settings, indexes: Sequence[Index] = ()) -> None:
        self.settings = settings
        self.mode = settings.database_mode
        self.driver = "mongomock" if self.mode == "embedded" else settings.mongo_driver
        self.database_name = settings.database_name  # parsed from the URL once, not per request
        self.indexes = tuple(indexes)
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._prepared: asyncio.Future[None] | None = None

    async def database(self) -> "AsyncIOMotorDatabase":
        # A driver client binds to the loop of its first operation and fails on any other
        # (TestClient blocks, reloads): keep one per loop. The in-memory store is bound to no
        # loop and holds the data, so it is kept.
        loop = None if self.mode == "embedded" else asyncio.get_running_loop()
        if self._client is None or loop is not self._loop:
            await self.close()
            self._client, self._loop = self._connect(), loop
        db = self._client[self.database_name]
        # Requests that arrive while the indexes are made share one attempt; a failed one is
        # tried again by the next request.
        failed = self._prepared is not None and self._prepared.done() and self._failed()
        if self._prepared is None or failed:
            self._prepared = asyncio.ensure_future(self._create_indexes(db))
        await asyncio.shield(self._prepared)
        return db

    async def _create_indexes(self, db: Any) -> None:
        """All at once (one round trip's wait, however many); creating one again is a no-op."""
        await asyncio.gather(
            *(db[i.collection].create_index(list(i.keys), **i.options) for i in self.indexes)
        )

    def _failed(self) -> bool:
        assert self._prepared is not None
        return self._prepared.cancelled() or self._prepared.exception() is not None

    async def close(self) -> None:
        client, self._client, self._prepared = self._client, None, None
        if client is not None:
            closed = client.close()  # a coroutine in PyMongo's AsyncMongoClient
            if inspect.isawaitable(closed):
                await closed

    def _connect(self) -> Any:
        settings = self.settings
        if self.mode == "unconfigured":
            raise DatabaseUnavailable(
                "MONGO_URL is not set, nor MONGODB_URI. A Vercel deployment never uses the "
                "in-memory database: connect the MongoDB Atlas integration (Vercel Marketplace, "
                "or your project's Storage tab; it sets MONGODB_URI), or add MONGO_URL under "
                "Project Settings > Environment Variables; then redeploy."
            )
        if self.mode == "embedded":
            try:
                from mongomock_motor import AsyncMongoMockClient
            except ImportError:
                raise DatabaseUnavailable(
                    "MONGO_URL is not set and the embedded database (mongomock-motor) is not "
                    "installed: set MONGO_URL, or run `make dev`, which installs it."
                ) from None
            return AsyncMongoMockClient(tz_aware=True)

        from pymongo.errors import PyMongoError

        url, timeout_ms = settings.connection_string, settings.mongo_timeout_ms
        try:
            client = _CLIENTS[settings.mongo_driver](
                url,
                timeoutMS=timeout_ms,
                serverSelectionTimeoutMS=timeout_ms,
                connectTimeoutMS=timeout_ms,
                maxPoolSize=settings.mongo_max_pool_size,
                maxIdleTimeMS=MAX_IDLE_TIME_MS,
                tz_aware=True,
                appname="fastapi-vercel-mongodb",
            )
        except (PyMongoError, ValueError, OSError) as exc:
            raise DatabaseUnavailable(
                f"{settings.mongo_url_variable} is not a valid MongoDB connection string "
                f"({type(exc).__name__}: {redact(str(exc), *settings.secrets)}). Expected "
                "mongodb://HOST:PORT/ or mongodb+srv://CLUSTER/, with USER:PASSWORD@ before the "
                "host and special characters in the password percent-encoded."
            ) from None
        logger.info(
            "database client created: driver %s, database %s, from %s",
            settings.mongo_driver,
            self.database_name,
            settings.mongo_url_variable,
        )
        return client


def _motor_client(url: str, **options: Any) -> Any:
    # Motor runs every operation on a thread pool sized once, when Motor is first imported, from
    # MOTOR_MAX_WORKERS (else 5 per CPU: 5 threads on a one-vCPU instance). An operation holds
    # its thread while it waits for a server or a pooled connection, so a pool smaller than
    # the concurrent operations queues them behind one another, each its own timeout. Size it
    # well above MONGO_MAX_POOL_SIZE: idle threads are never started.
    workers = max(5 * (os.cpu_count() or 1), 4 * options["maxPoolSize"])
    os.environ.setdefault("MOTOR_MAX_WORKERS", str(workers))
    from motor.motor_asyncio import AsyncIOMotorClient

    return AsyncIOMotorClient(url, **options)


def _pymongo_client(url: str, **options: Any) -> Any:
    from pymongo import AsyncMongoClient

    return AsyncMongoClient(url, **options)


_CLIENTS = {"motor": _motor_client, "pymongo": _pymongo_client}


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
    variable = settings.mongo_url_variable
    timeout_ms = settings.mongo_timeout_ms
    if isinstance(exc, ConnectionFailure) and exc.timeout:
        return DatabaseUnavailable(
            f"The database did not answer within MONGO_TIMEOUT_MS={timeout_ms} ({name}). "
            f"Check that {variable} names the right host, that the server is running, and that "
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
            f"request; if it persists, check the server and {variable}.",
            transient=True,
        )
    # 18 AuthenticationFailed, 13 Unauthorized; Atlas answers a bad password with 8000.
    if isinstance(exc, OperationFailure) and exc.code in (13, 18, 8000):
        return DatabaseUnavailable(
            f"The database rejected the credentials in {variable} ({name}, code {exc.code}). "
            "Check the user name, the password (percent-encoded) and the user's roles."
        )
    if isinstance(exc, ConfigurationError):
        return DatabaseUnavailable(
            f"{variable} could not be used ({name}: {redact(str(exc), *settings.secrets)})."
        )
    return None


async def get_mongo(request: Request) -> Mongo:
    return request.app.state.mongo


MongoDep = Annotated[Mongo, Depends(get_mongo)]


async def get_db(mongo: MongoDep) -> AsyncIterator["AsyncIOMotorDatabase"]:
    try:
        yield await mongo.database()
    except Exception as exc:
        unavailable = _as_unavailable(exc, mongo.settings)
        if unavailable is None:
            raise
        raise unavailable from None


Db = Annotated["AsyncIOMotorDatabase", Depends(get_db)]
