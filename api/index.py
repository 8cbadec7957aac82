"""The Vercel entrypoint. `app` is what Vercel serves; `handler` serves the same app on AWS Lambda.

`create_handler()` never raises: an entrypoint that fails to import is Vercel's
FUNCTION_INVOCATION_FAILED, with nothing to tell the user why. When the backend cannot be
loaded, the function starts anyway and answers every request with a 503 that names the cause.
"""

import functools
import gc
import json
import os
import sys
import traceback
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Scope]], Callable[[Scope], Awaitable[None]]], Awaitable[None]
]


def create_handler() -> ASGIApp:
    # Importing the backend makes tens of thousands of objects that live as long as the
    # process; the cyclic garbage collector would scan them again and again while they are made
    # (cold-start time: README, Performance). Pause it for the import, then freeze what the
    # import made, so later collections skip it.
    collecting = gc.isenabled()
    gc.disable()
    try:
        from backend.server import app

        return app
    except (Exception, SystemExit) as exc:
        cause = _redact(f"{type(exc).__name__}: {exc}")
        trace = _redact(traceback.format_exc())
        print(f"The backend failed to load; serving 503 on every route.\n{trace}", file=sys.stderr)
        return _fallback_app(cause)
    finally:
        gc.freeze()
        if collecting:
            gc.enable()


def _redact(text: str) -> str:
    # Settings may be what failed, so the fallback reads the secrets straight from the
    # environment. If even the stdlib-only redaction module cannot load, say nothing.
    try:
        from backend.redact import redact

        # A value this short is no secret, and masking it would garble the message.
        key = os.environ.get("API_KEY", "").strip()
        key = key if len(key) >= 8 else None
        return redact(text, os.environ.get("MONGO_URL"), os.environ.get("MONGODB_URI"), key)
    except Exception:
        return "(details withheld: backend/redact.py failed to load too)"


def _fallback_app(cause: str) -> ASGIApp:
    body = json.dumps(
        {
            "detail": f"The backend failed to load: {cause}",
            "hint": "The function log has the full traceback (Vercel: the deployment's Logs "
            "tab, or `vercel logs <deployment-url>`). See README.md, Troubleshooting.",
        }
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
    ]

    async def fallback(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
        elif scope["type"] == "http":
            request_id = (b"x-request-id", uuid.uuid4().hex.encode())
            start = {
                "type": "http.response.start",
                "status": 503,
                "headers": [*headers, request_id],
            }
            await send(start)
            await send({"type": "http.response.body", "body": body})

    return fallback


@functools.cache
def _lambda_adapter() -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    try:
        from mangum import Mangum
    except ImportError as exc:
        raise RuntimeError(
            f"The AWS Lambda handler cannot run: {type(exc).__name__}: {exc}. "
            "Add mangum to requirements.txt."
        ) from None
    return Mangum(app, lifespan="off")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """AWS Lambda / API Gateway: the same `app` through Mangum. Mangum is imported on the first
    call: Vercel never makes one, so its cold start does not pay for loading Mangum."""
    return _lambda_adapter()(event, context)


app = create_handler()
