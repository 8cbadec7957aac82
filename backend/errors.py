"""Every error as a JSON body with `detail`: the one function that makes it, the exception
handlers, and the error responses the OpenAPI document declares."""

import re
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.routing import Match

from backend.exceptions import DatabaseUnavailable
from backend.log import logger


class ErrorMessage(BaseModel):
    detail: str


class FieldError(BaseModel):
    type: str
    loc: list[str | int]
    msg: str


class InvalidInput(BaseModel):
    detail: list[FieldError] | str


_DESCRIPTIONS = {
    400: "The request cannot be read: both Transfer-Encoding and Content-Length, or a body "
    "the JSON parser refuses (not UTF-8, nested too deep, a number over 4,300 digits)",
    409: "The Idempotency-Key expired during its own request: retry it",
    413: "The request body is over 64 KiB",
    422: "Invalid input: `detail` lists each location at fault and why. An Idempotency-Key "
    "reused with a different body is a 422 whose `detail` is a message",
    500: "A bug: `detail` holds the request id to find it in the server log",
    503: "The database cannot serve the request; Retry-After when a retry may pass",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` entries for these error statuses and those any request may get."""
    return {
        status: {
            "model": InvalidInput if status == 422 else ErrorMessage,
            "description": _DESCRIPTIONS[status],
        }
        for status in sorted({400, 413, 500, *statuses})
    }


def error_response(
    status: int, detail: str | list[dict[str, Any]], headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The one way an error body is made: `{"detail": ...}`."""
    return JSONResponse({"detail": detail}, status, headers=headers)


# A location holds a field's name, and an unknown field's name is input: echo only plain names.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
WITHHELD = "(name withheld)"


def _location(loc: tuple[str | int, ...]) -> list[str | int]:
    return [p if isinstance(p, int) or _PLAIN_NAME.fullmatch(p) else WITHHELD for p in loc]


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    # FastAPI's default echoes each rejected `input` back; keep the location and reason only.
    errors = [
        {"type": e["type"], "loc": _location(e["loc"]), "msg": e["msg"]} for e in exc.errors()
    ]
    return error_response(422, errors)


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    headers = exc.headers
    if exc.status_code == 405:
        # Starlette's Allow names the methods of one route; a path may have several.
        headers = {**(headers or {}), "Allow": _allowed_methods(request)}
    return error_response(exc.status_code, exc.detail, headers)


def _allowed_methods(request: Request) -> str:
    methods: set[str] = set()
    for route in request.app.state.api_routes:
        if route.matches(request.scope)[0] is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


async def _database_unavailable(request: Request, exc: DatabaseUnavailable) -> JSONResponse:
    logger.warning("database unavailable: %s", exc)
    headers = {"Retry-After": "5"} if exc.transient else None
    return error_response(503, str(exc), headers)


def add_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(DatabaseUnavailable, _database_unavailable)
