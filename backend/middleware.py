"""The edge of every request: an id, safe headers, one body size rule, HEAD served as GET without
the body, one JSON log line, and a JSON 500 on a crash."""

import random
import re
import time

from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.errors import MAX_BODY_BYTES, error_response
from backend.log import log_request, logger, request_id

_TOO_LARGE = f"The request body is larger than {MAX_BODY_BYTES} bytes."
_AMBIGUOUS_LENGTH = (
    "The request has both Transfer-Encoding and Content-Length, which may disagree on where "
    "the body ends (RFC 9112, section 6.3): send one of them."
)
_VERCEL_ID = re.compile(rb"^[\w:.\-]{1,128}$")
_SAFE_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-store")]


class RequestContextMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware): it runs on every request, so it must cost little."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid, content_length, transfer_encoding = _read_headers(scope)
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 0
        head = scope["method"] == "HEAD"

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    (b"x-request-id", rid.encode()),
                    *_SAFE_HEADERS,
                ]
            elif head:
                message = {**message, "body": b""}
            await send(message)

        try:
            if transfer_encoding and content_length is not None:
                # A smuggling risk: refuse it, and close the connection as RFC 9112 asks.
                refusal = error_response(400, _AMBIGUOUS_LENGTH, {"Connection": "close"})
                await refusal(scope, receive, send_with_headers)
            elif content_length is not None and content_length > MAX_BODY_BYTES:
                await error_response(413, _TOO_LARGE)(scope, receive, send_with_headers)
            else:
                # RFC 9110: HEAD is GET without the body; the headers stay those of the GET.
                app_scope = {**scope, "method": "GET"} if head else scope
                await self.app(app_scope, _limit_body(receive), send_with_headers)
        except Exception:
            logger.exception("unhandled error")
            if status:
                raise  # the response has begun: nothing can replace it now
            detail = f"Internal Server Error. The server log has the cause under request id {rid}."
            await error_response(500, detail)(scope, receive, send_with_headers)
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            log_request(rid, scope["method"], scope["path"], status, duration_ms)
            request_id.reset(token)


class BrowserCORSMiddleware(CORSMiddleware):
    """Starlette's CORSMiddleware, for requests that carry an `Origin` header.

    Only those can be cross-origin browser requests. On the others Starlette would add just
    `Vary: Origin`, which no cache needs since every response here is `no-store`; skipping it
    is a measurable share of serving `GET /api/` (docs/performance.md).
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not any(name == b"origin" for name, _ in scope["headers"]):
            await self.app(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def _read_headers(scope: Scope) -> tuple[str, int | None, bool]:
    """The request id (Vercel's own when present), the declared body length if any, and whether
    a Transfer-Encoding is declared."""
    rid, content_length, transfer_encoding = None, None, False
    for name, value in scope["headers"]:
        if name == b"x-vercel-id" and _VERCEL_ID.match(value):
            rid = value.decode()
        elif name == b"content-length" and value.isdigit():
            content_length = int(value)
        elif name == b"transfer-encoding":
            transfer_encoding = True
    # 128 random bits, as a UUID4 has, without building a UUID on every request.
    return rid or f"{random.getrandbits(128):032x}", content_length, transfer_encoding


def _limit_body(receive: Receive) -> Receive:
    """`receive`, refusing the body once what actually arrived grows past MAX_BODY_BYTES, whatever
    length was declared."""
    received = 0

    async def receive_limited() -> Message:
        nonlocal received
        message = await receive()
        received += len(message.get("body", b""))
        if received > MAX_BODY_BYTES:
            raise HTTPException(413, _TOO_LARGE)
        return message

    return receive_limited
