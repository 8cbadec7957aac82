"""Writes need the API key: the middleware that asks every write under /api/ for
`Authorization: Bearer <API_KEY>`, the startup log line about it, and its OpenAPI declaration."""

import hmac
from typing import Any

from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from backend.errors import ErrorMessage, error_response, matching_routes, operations
from backend.identity import takes_user
from backend.log import logger
from backend.settings import NEW_KEY_COMMAND, Settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SECURITY_SCHEME = "APIKey"

_SEND = (
    "Writes need the API key: send the header Authorization: Bearer <API_KEY>, with the value "
    "API_KEY has on the server."
)
NO_HEADER = f"{_SEND} This request has no Authorization header."
NOT_BEARER = f"{_SEND} This request's Authorization header is not Bearer."
WRONG_KEY = f"{_SEND} The key this request sent is not that value."
WRITES_OFF = (
    f"Writes are off: this deployment has no API_KEY. Make a key with {NEW_KEY_COMMAND}, add it "
    "with vercel env add API_KEY (Production and Preview), redeploy, then send it as "
    "Authorization: Bearer <API_KEY>."
)
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def is_write(method: str, path: str) -> bool:
    """Every method but GET, HEAD and OPTIONS, on a path under /api/."""
    return method.upper() not in SAFE_METHODS and path.startswith("/api/")


class RequireAPIKey:
    """Pure ASGI, around the app's routes however they were added: a write a route serves is
    refused here, before its body is read or any database work, when it lacks the key; a path
    or method no route serves passes on to routing's 404 or 405. A read costs one comparison.
    With AUTH_ISSUER set, a route that takes the signed-in user (`User`, backend/identity.py)
    asks for that user's token instead, and the key does not open it."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self._key = settings.api_key.get_secret_value().encode() if settings.api_key else None
        self._writes_off = settings.api_key is None and settings.vercel
        self._users_sign_in = settings.auth_issuer is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_write(scope["method"], scope["path"]):
            refusal = self._refusal(scope)
            if refusal is not None and self._guards(scope):
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _guards(self, scope: Scope) -> bool:
        """Whether the key guards this write: a route of the app serves it, and it is not one
        that takes the signed-in user's token instead (with AUTH_ISSUER set). A path or method
        no route serves passes on to routing's 404 or 405."""
        served = (route for match, route in matching_routes(scope) if match is Match.FULL)
        route = next(served, None)
        return route is not None and not (self._users_sign_in and takes_user(route))

    def _refusal(self, scope: Scope) -> ASGIApp | None:
        if self._writes_off:
            return error_response(403, WRITES_OFF)
        if self._key is None:
            return None
        authorization = next((v for n, v in scope["headers"] if n == b"authorization"), None)
        if authorization is None:
            return error_response(401, NO_HEADER, _CHALLENGE)
        scheme, _, token = authorization.partition(b" ")
        if scheme.lower() != b"bearer":
            return error_response(401, NOT_BEARER, _CHALLENGE)
        if not hmac.compare_digest(token, self._key):
            return error_response(401, WRONG_KEY, _CHALLENGE)
        return None


def log_write_access(settings: Settings) -> None:
    """Say at startup whether writes are open, need the key, or are off."""
    if settings.api_key is not None:
        logger.info("Writes need API_KEY, sent as Authorization: Bearer.")
    elif settings.vercel:
        logger.error(
            "API_KEY is not set: writes are off (403) on this deployment. Add it with "
            "`vercel env add API_KEY`, then redeploy."
        )
    else:
        logger.warning(
            "API_KEY is not set: writes are open to anyone who can reach this server. "
            "A deployment refuses them until it is set."
        )


def write_security(settings: Settings) -> list[dict[str, list[str]]]:
    """A write operation's `security`, as this server enforces it: the bearer scheme, required
    with API_KEY set or on a deployment (which refuses writes without it), optional where
    writes are open (`{}` is "no credentials")."""
    scheme: dict[str, list[str]] = {SECURITY_SCHEME: []}
    return [scheme] if settings.api_key is not None or settings.vercel else [{}, scheme]


def document_security(openapi: dict[str, Any], settings: Settings) -> None:
    """Declare the bearer scheme, and its 401 and 403, on every write operation of `openapi`
    (edited in place), whichever way its route was added."""
    components = openapi.setdefault("components", {})
    components.setdefault("securitySchemes", {})[SECURITY_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "description": "The server's API_KEY. Where it is set every write needs it, and a "
        "deployment refuses writes until it is; reads never need it.",
    }
    schemas = components.setdefault("schemas", {})
    schemas.setdefault("ErrorMessage", ErrorMessage.model_json_schema())
    for path, method, operation in operations(openapi):
        if is_write(method, path):
            operation["security"] = write_security(settings)
            operation.setdefault("responses", {}).update(_refusals())


def _refusals() -> dict[str, Any]:
    def body() -> dict[str, Any]:
        return {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorMessage"}}}

    return {
        "401": {
            "description": "API_KEY is set and this write did not send it: send "
            "`Authorization: Bearer <API_KEY>`",
            "headers": {
                "WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}
            },
            "content": body(),
        },
        "403": {
            "description": "Writes are off: a deployment without API_KEY refuses every write "
            "until it is set",
            "content": body(),
        },
    }
