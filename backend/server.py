"""Builds the FastAPI app: settings, lifespan, middleware, error handlers and the /api routes.

Local development: `uvicorn backend.server:app --reload` (what `make dev` runs).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from backend import idempotency, items_store, status_store
from backend.auth import RequireAPIKey, document_security, log_write_access
from backend.db import Mongo
from backend.errors import add_exception_handlers, declare_errors
from backend.exceptions import DatabaseUnavailable
from backend.identity import document_users, log_identity, make_issuer
from backend.log import configure_logging, logger
from backend.media_types import RequireMediaType, declare_media_types
from backend.middleware import BrowserCORSMiddleware, RequestContextMiddleware
from backend.operation_ids import name_operations, operation_id
from backend.routes import health, items, root, status
from backend.settings import Settings, get_settings

# Every index a store declares: each client creates them all, once, on its first request.
INDEXES = (*status_store.INDEXES, *items_store.INDEXES, *idempotency.INDEXES)
# Every stored shape: what `make migrate` upgrades, and what tests/shapes/ keeps samples of.
SHAPES = (status_store.SHAPE, items_store.SHAPE)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Runs on Vercel too: no network I/O here, nothing that can raise. The client is made on
    # the first request that needs it.
    mongo: Mongo = app.state.mongo
    settings = mongo.settings
    if mongo.mode == "embedded":
        await _open_embedded(mongo)
    elif mongo.mode == "unconfigured":
        logger.error(
            "MONGO_URL is not set, nor MONGODB_URI: database routes answer 503 until one is."
        )
    elif settings.ignored_variable:
        logger.warning(
            "Both MONGO_URL and MONGODB_URI are set, to different values: using MONGO_URL, "
            "ignoring MONGODB_URI."
        )
    else:
        logger.info("Using the connection string in %s.", settings.mongo_url_variable)
    log_write_access(settings)
    log_identity(settings)
    yield
    await mongo.close()


async def _open_embedded(mongo: Mongo) -> None:
    data_file = mongo.settings.embedded_data_file
    if data_file is None:
        logger.warning(
            "MONGO_URL is not set: using the embedded in-memory database. "
            "Its data is lost when the server stops."
        )
        return
    # Read now, so the log says at once whether the data came back (only ever locally: Vercel
    # never uses the embedded database, so a deployment never imports its module).
    from backend.embedded import START_EMPTY

    try:
        await mongo.database()
    except DatabaseUnavailable as exc:
        logger.error("%s Database routes answer 503 until it can be read.", exc)
        return
    logger.warning(
        "MONGO_URL is not set: using the embedded database, kept in %s. %s",
        data_file.resolve(),
        START_EMPTY,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(*settings.secrets)

    app = FastAPI(
        title="FastAPI + MongoDB on Vercel",
        lifespan=lifespan,
        # On Vercel only /api/* reaches the function, so the docs live there too.
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        # Its redirect builds Location from the Host header; a path is served as documented.
        redirect_slashes=False,
        # Ids a client generated from the document reads well: createItem, not
        # create_item_api_items_post.
        generate_unique_id_function=operation_id,
    )
    app.state.mongo = Mongo(settings, INDEXES)
    app.state.issuer = make_issuer(settings)
    add_exception_handlers(app)

    completed: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        # The document says what the app does, for every route however it was added. FastAPI
        # makes it again once routes were added since; each new one is completed once.
        document = FastAPI.openapi(app)
        if not completed or completed[0] is not document:
            name_operations(document, app.routes)
            declare_media_types(document, app.routes)  # before declare_errors, which adds
            declare_errors(document)  # each error's body, the 415's too
            document_security(document, settings)
            document_users(document, app)
            completed[:] = [document]
        return document

    app.openapi = openapi  # type: ignore[method-assign]

    if settings.database_mode == "embedded" and settings.embedded_data_file is not None:
        from backend.embedded import SaveEmbeddedData

        # Innermost: saved before the response starts; a failed save is the JSON 500.
        app.add_middleware(SaveEmbeddedData, save=app.state.mongo.save)
    # After the key check (a write without the key is a 401 whatever its body):
    # a body of a type its route does not take is a 415 before it is read.
    app.add_middleware(RequireMediaType)
    # Its 401 and 403 get CORS headers, the request id and the access line.
    app.add_middleware(RequireAPIKey, settings=settings)
    any_origin = "*" in settings.cors_origins
    app.add_middleware(
        BrowserCORSMiddleware,
        allow_origins=["*"] if any_origin else list(settings.cors_origins),
        # Browsers refuse credentials with a wildcard origin.
        allow_credentials=not any_origin,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=["Link", "X-Request-ID", "Idempotent-Replayed"],
    )
    app.add_middleware(RequestContextMiddleware)

    # include_router, not the router's routes appended to the app: only routes made by the app
    # see its dependency_overrides (tests replace the clock that way).
    for router in (root.router, health.router, status.router, items.router):
        app.include_router(router)
    return app


app = create_app()
