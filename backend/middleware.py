"""The edge of every request: an id, safe headers, a body size limit, one JSON log line, and a
JSON 500 on a crash."""

import random
import re
import time

from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.log import log_request, logger, request_id

MAX_BODY_BYTES = 64 * 1024
_TOO_LARGE = f"The request body is larger than {MAX_BODY_BYTES} bytes."
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
        rid, content_length = _read_headers(scope)
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    (b"x-request-id", rid.encode()),
                    *_SAFE_HEADERS,
                ]
            await send(message)

        try:
            if content_length is not None and content_length > MAX_BODY_BYTES:
                await JSONResponse({"detail": _TOO_LARGE}, 413)(scope, receive, send_with_headers)
            else:
                # The HTTP server holds a body to its declared length; count only the others.
                limited = receive if content_length is not None else _limit_body(receive)
                await self.app(scope, limited, send_with_headers)
        except Exception:
            logger.exception("unhandled error")
            if status:
                raise  # the response has begun: nothing can replace it now
            detail = f"Internal Server Error. The server log has the cause under request id {rid}."
            await JSONResponse({"detail": detail}, 500)(scope, receive, send_with_headers)
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            log_request(rid, scope["method"], scope["path"], status, duration_ms)
            request_id.reset(token)


class BrowserCORSMiddleware(CORSMiddleware):
    """Starlette's CORSMiddleware, for requests that carry an `Origin` header.

    Only those can be cross-origin browser requests. On the others Starlette would add just
    `Vary: Origin`, which no cache needs since every response here is `no-store`; skipping it
    saves about 5% of the cost of serving `GET /api/` under uvicorn (py-spy).
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not any(name == b"origin" for name, _ in scope["headers"]):
            await self.app(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def _read_headers(scope: Scope) -> tuple[str, int | None]:
    """The request id (Vercel's own when present) and the declared body length, if any."""
    rid, content_length = None, None
    for name, value in scope["headers"]:
        if name == b"x-vercel-id" and _VERCEL_ID.match(value):
            rid = value.decode()
        elif name == b"content-length" and value.isdigit():
            content_length = int(value)
    # 128 random bits, as a UUID4 has, without building a UUID on every request.
    return rid or f"{random.getrandbits(128):032x}", content_length


def _limit_body(receive: Receive) -> Receive:
    """`receive`, refusing a body of undeclared length once it grows past MAX_BODY_BYTES."""
    received = 0

    async def receive_limited() -> Message:
        nonlocal received
        message = await receive()
        received += len(message.get("body", b""))
        if received > MAX_BODY_BYTES:
            raise HTTPException(413, _TOO_LARGE)
        return message

    return receive_limited
