"""The project's exceptions and how every error becomes a JSON body with `detail`.

Exception
├── SettingsError         an environment variable is missing or invalid (raised at start-up)
└── DatabaseUnavailable   the database cannot serve this request (503)
"""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from backend.log import logger


class SettingsError(Exception):
    """An environment variable is missing or invalid; the message names it."""


class DatabaseUnavailable(Exception):
    """The database cannot serve this request; the message says why and what to do.

    A `transient` failure (a timeout, a dropped connection) may pass on a retry: its 503 says
    when with Retry-After. A configuration problem will not, and gets none.
    """

    def __init__(self, detail: str, *, transient: bool = False) -> None:
        super().__init__(detail)
        self.transient = transient


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    # FastAPI's default echoes each rejected `input` back; keep the location and reason only.
    errors = [{k: e[k] for k in ("type", "loc", "msg") if k in e} for e in exc.errors()]
    return JSONResponse({"detail": errors}, 422)


async def _database_unavailable(request: Request, exc: DatabaseUnavailable) -> JSONResponse:
    logger.warning("database unavailable: %s", exc)
    headers = {"Retry-After": "5"} if exc.transient else None
    return JSONResponse({"detail": str(exc)}, 503, headers=headers)


def add_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DatabaseUnavailable, _database_unavailable)
