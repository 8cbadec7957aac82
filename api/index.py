"""The Vercel entrypoint. `app` is what Vercel serves; `handler` serves the same app on AWS Lambda.

`create_handler()` never raises: an entrypoint that fails to import is Vercel's
FUNCTION_INVOCATION_FAILED, with nothing to tell the user why. When the backend cannot be
loaded, the function starts anyway and answers every request with a 503 that names the cause.

`python api/index.py` is a self-check: it says whether the backend loads, and why not.
"""

import functools
import gc
import json
import os
import re
import sys
import traceback
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

# Where `backend/` is. Vercel's runtime has it on sys.path already (the task root); running this
# file, or importing it from api/ as the usual FUNCTION_INVOCATION_FAILED advice does, has not.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in map(os.path.abspath, sys.path):
    sys.path.insert(0, _ROOT)

# Masked in whatever the fallback shows: read by name, since the settings may be what failed.
SECRET_VARIABLES = ("MONGO_URL", "MONGODB_URI", "API_KEY")

Scope = dict[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Scope]], Callable[[Scope], Awaitable[None]]], Awaitable[None]
]


def create_handler() -> ASGIApp:
    # Importing the backend makes tens of thousands of objects that live as long as the
    # process; the cyclic garbage collector would scan them again and again while they are made
    # (cold-start time: docs/performance.md). Pause it for the import, then freeze what the
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
    # A value this short is no secret (settings refuse an API_KEY under 32 characters), and
    # masking it would garble the message.
    secrets = [value for name in SECRET_VARIABLES if len(value := os.environ.get(name, "")) >= 8]
    try:
        from backend.redact import redact
    except Exception:
        # backend/ itself may be what is missing. Never withhold the cause: mask each secret's
        # value and every URL's `user:password@`, as backend/redact.py does.
        for secret in secrets:
            text = text.replace(secret, "***")
        return re.sub(r"([A-Za-z][A-Za-z0-9+.-]*://)[^@/\s'\"]+@", r"\1***@", text)
    return redact(text, *secrets)


def _fallback_app(cause: str) -> ASGIApp:
    body = json.dumps(
        {
            "detail": f"The backend failed to load: {cause}",
            "hint": "The function log has the full traceback (Vercel: the deployment's Logs "
            "tab, or `vercel logs <deployment-url>`; locally, `python api/index.py`). See "
            "README.md, Troubleshooting.",
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
            "Add mangum to pyproject.toml's dependencies, then `make lock`."
        ) from None
    return Mangum(app, lifespan="off")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """AWS Lambda / API Gateway: the same `app` through Mangum. Mangum is imported on the first
    call: Vercel never makes one, so its cold start does not pay for loading Mangum."""
    return _lambda_adapter()(event, context)


def _self_check() -> int:
    """`python api/index.py`: this file has just run as Vercel's runtime imports it."""
    loaded = getattr(sys.modules.get("backend.server"), "app", None) is app
    if not loaded:
        print(
            "api/index.py: the backend did not load: the cause and its traceback are above. "
            "Deployed like this, every route answers 503 with that cause.",
            file=sys.stderr,
        )
        return 1
    print("api/index.py: the backend loaded.")
    from fastapi.routing import iter_route_contexts

    paths: dict[str, set[str]] = {}
    for route in iter_route_contexts(app.router.routes):
        if route.path.startswith("/api/"):  # only /api/* reaches the function on Vercel
            paths.setdefault(route.path, set()).update(route.methods - {"HEAD"})
    listed = {path: ", ".join(sorted(methods)) for path, methods in paths.items()}
    width = max(map(len, listed.values()))
    for path, methods in listed.items():
        print(f"  {methods:<{width}}  {path}")
    mongo = app.state.mongo
    variable = mongo.settings.mongo_url_variable
    print(
        f"database: {mongo.mode}{f' from {variable}' if variable else ''}, driver: {mongo.driver}"
    )
    return 0


app = create_handler()

if __name__ == "__main__":
    sys.exit(_self_check())
