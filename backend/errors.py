"""Every error as a JSON body with `detail`: the one function that makes it, the exception
handlers, and the errors the OpenAPI document declares, for every route however it was added."""

import re
from collections.abc import Iterator, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from backend.exceptions import DatabaseUnavailable
from backend.log import logger
from backend.models import Output

MAX_BODY_BYTES = 64 * 1024


class ErrorMessage(Output):
    detail: str


class FieldError(Output):
    type: str
    loc: list[str | int]
    msg: str


class InvalidInput(Output):
    detail: list[FieldError] | str


_DESCRIPTIONS = {
    400: "The request cannot be read: both Transfer-Encoding and Content-Length, or a body "
    "the JSON parser refuses (not UTF-8, nested too deep, a number over 4,300 digits)",
    404: "Not found: `detail` says what",
    412: "If-Match names a version that is no longer the current one: read it again and retry",
    413: f"The request body is over {MAX_BODY_BYTES // 1024} KiB",
    415: "The body's media type (its Content-Type, or none) is not one this operation takes: "
    "`Accept` lists those it does, `Accept-Patch` on a PATCH",
    422: "Invalid input: `detail` lists each location at fault and why. An Idempotency-Key "
    "reused with a different body is a 422 whose `detail` is a message",
    500: "A bug: `detail` holds the request id to find it in the server log",
    503: "The database cannot serve the request; Retry-After when a retry may pass",
}
# What any request may get, whatever its route: declared on every operation.
ANY_REQUEST = (400, 413, 500)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` entries for these error statuses, any status: a route passes
    them to its decorator (`responses=error_responses(404, 503)`). Their bodies are declared
    by `declare_errors`, as for an error a route declares its own way: a `model` here would
    have FastAPI build a validator per status per route at start-up, for nothing."""
    return {status: {"description": _description(status)} for status in sorted(statuses)}


def _description(status: int) -> str:
    return _DESCRIPTIONS.get(status) or HTTPStatus(status).phrase


def _body(status: int) -> type[Output]:
    return InvalidInput if status == 422 else ErrorMessage


OPERATIONS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def operations(openapi: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Each operation of an OpenAPI document, as (path, method, operation): a path item's other
    keys (`parameters`, `summary`...) are not operations."""
    for path, item in openapi.get("paths", {}).items():
        for method, operation in item.items():
            if method in OPERATIONS:
                yield path, method, operation


def route_operations(
    openapi: dict[str, Any], routes: Sequence[BaseRoute]
) -> Iterator[tuple[Any, str, dict[str, Any]]]:
    """Each operation of the document made from `routes` with the route that serves it, as
    (route, method, operation), however the route was added."""
    for route in iter_route_contexts(routes):
        if isinstance(route.original_route, APIRoute) and route.include_in_schema:
            item = openapi.get("paths", {}).get(route.path_format, {})
            for method in sorted(route.methods):
                if (operation := item.get(method.lower())) is not None:
                    yield route, method.lower(), operation


def declare_errors(openapi: dict[str, Any]) -> None:
    """Make the generated document say what the app does, for every operation: the errors any
    request may get, and the project's 422 body instead of FastAPI's default one (which has an
    `input` field this API never sends)."""
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    for model in (ErrorMessage, InvalidInput):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    for _, _, operation in operations(openapi):
        responses = operation.setdefault("responses", {})
        declared = (int(status) for status in responses if status.isdigit())
        statuses = {*ANY_REQUEST, *(status for status in declared if status >= 400)}
        for status in sorted(statuses):
            ref = {"$ref": f"#/components/schemas/{_body(status).__name__}"}
            entry = responses.setdefault(str(status), {})
            entry.setdefault("description", _description(status))
            entry["content"] = {"application/json": {"schema": ref}}


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


def matching_routes(scope: Scope) -> Iterator[tuple[Match, BaseRoute]]:
    """The app's routes whose path matches the request's, however they were added: FULL where
    the method matches too, PARTIAL where only the path does."""
    for route in iter_route_contexts(scope["app"].router.routes):
        match = route.matches(scope)[0]
        if match is not Match.NONE:
            yield match, route


def _allowed_methods(request: Request) -> str:
    """Every method some route of the app serves at this path."""
    methods: set[str] = set()
    for _, route in matching_routes(request.scope):
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
