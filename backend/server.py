"""Builds the FastAPI app: settings, lifespan, middleware, error handlers and the /api routes.

Local development: `uvicorn backend.server:app --reload` (what `make dev` runs).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from backend.db import Mongo
from backend.errors import add_exception_handlers
from backend.log import configure_logging, logger
from backend.middleware import BrowserCORSMiddleware, RequestContextMiddleware
from backend.routes import health, root, status
from backend.settings import Settings, get_settings


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Runs on Vercel too: no network I/O here, nothing that can raise. The client is made on
    # the first request that needs it.
    mongo: Mongo = app.state.mongo
    if mongo.embedded:
        logger.warning(
            "MONGO_URL is not set: using the embedded in-memory database. "
            "Its data is lost when the server stops."
        )
    elif mongo.settings.mongo_url is None:
        logger.error("MONGO_URL is not set: database routes answer 503 until it is.")
    yield
    await mongo.close()


ROUTERS = (root.router, health.router, status.router)


def add_routes(app: FastAPI, router: APIRouter) -> None:
    """The one way routes join the app: straight onto it, where include_router() would keep a
    subtree every request walks (README, Performance). Each router is declared whole (prefix,
    tags, responses), so the OpenAPI document is the one include_router() would make."""
    app.router.routes.extend(router.routes)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.mongo_url_value)

    app = FastAPI(
        title="FastAPI + MongoDB on Vercel",
        lifespan=lifespan,
        # On Vercel only /api/* reaches the function, so the docs live there too.
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        # Its redirect builds Location from the Host header; a path is served as documented.
        redirect_slashes=False,
    )
    app.state.mongo = Mongo(settings)
    add_exception_handlers(app)

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

    for router in ROUTERS:
        add_routes(app, router)
    return app


app = create_app()
