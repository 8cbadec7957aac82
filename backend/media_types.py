"""Request bodies only in the media types their route takes, read from the app's routes however
they were added: any other, or none, is a 415 naming those it takes, before the body is read;
the OpenAPI document lists them on each operation, with its 415."""

from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from backend.errors import error_response, matching_routes, route_operations

JSON = "application/json"


def accepted(route: Any) -> tuple[str, ...]:
    """The body media types `route` takes: its body's (`Body(media_type=...)`, application/json
    unless said), and application/json beside one built on JSON (`+json`: a merge patch is a
    JSON object too). Empty when it takes no body."""
    body = getattr(route, "body_field", None)
    if body is None:
        return ()
    declared = body.field_info.media_type
    return (declared, JSON) if declared.endswith("+json") else (declared,)


def listing_header(method: str) -> str:
    """Where a 415 lists the types taken: `Accept-Patch` on a PATCH (RFC 5789), else `Accept`
    (RFC 9110, 15.5.16)."""
    return "Accept-Patch" if method.upper() == "PATCH" else "Accept"


class RequireMediaType:
    """Pure ASGI, around the app's routes however they were added: a request whose Content-Type
    its route does not take is a 415 listing those it takes, before the body is read. A body
    without a Content-Type is refused the same way: RFC 9110 (8.3) lets it be taken for
    application/octet-stream, which no route takes. A request with neither passes (the route
    says whether it needs a body); parameters (`; charset=utf-8`) are ignored."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (sent := _body_media_type(scope)) is not None:
            route = next((r for match, r in matching_routes(scope) if match is Match.FULL), None)
            takes = accepted(route)
            if takes and sent not in takes:
                detail = (
                    f"This route takes a body only as {' or '.join(takes)}: send it with that "
                    "Content-Type header."
                )
                headers = {listing_header(scope["method"]): ", ".join(takes)}
                await error_response(415, detail, headers)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _body_media_type(scope: Scope) -> str | None:
    """The media type the request's Content-Type names, lower-cased and without parameters; ""
    for a body without one; None for neither. A Content-Type counts even where the length is
    not said (HTTP/2 need not): it announces a body."""
    media_type, has_body = None, False
    for name, value in scope["headers"]:
        if name == b"content-type":
            media_type = value.decode("latin-1").partition(";")[0].strip().lower()
        elif name == b"content-length":
            has_body = not value.isdigit() or int(value) > 0
        elif name == b"transfer-encoding":
            has_body = True
    return "" if media_type is None and has_body else media_type


def declare_media_types(openapi: dict[str, Any], routes: Sequence[BaseRoute]) -> None:
    """List every media type an operation's body may take, and its 415 with the header that
    names them (declare_errors gives the 415 its description and body)."""
    for route, method, operation in route_operations(openapi, routes):
        takes = accepted(route)
        content = operation.get("requestBody", {}).get("content")
        if not takes or not content:
            continue
        schema = next(iter(content.values()))
        operation["requestBody"]["content"] = {media_type: schema for media_type in takes}
        listed = f"The media types it takes: `{', '.join(takes)}`"
        header = {"description": listed, "schema": {"type": "string"}}
        operation.setdefault("responses", {})["415"] = {"headers": {listing_header(method): header}}
