"""Vercel's routing on a laptop, for `make dev`: the same URLs answer as on a deployment.

Paths matching a `rewrites` source of vercel.json go to the function, `api.index:app` (so a
backend that fails to load answers with the fallback's 503, as on Vercel); every other path is
a file from `public/`, as Vercel's CDN serves it. Each response gets the `headers` vercel.json
gives its path. vercel.json is read at start: restart after editing it.
"""

import json
import re
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.index import app as function
from harness import ROOT

Headers = list[tuple[bytes, bytes]]


def source_pattern(source: str) -> re.Pattern[str]:
    """A vercel.json `source` (path-to-regexp) as a regex: each parenthesised group is a regex,
    everything else literal. Named parameters (`:slug`) are not supported here."""
    if ":" in re.sub(r"\(.*\)", "", source):
        raise ValueError(f"vercel.json source {source!r}: named parameters are not supported")
    parts, depth, start = [], 0, 0
    for index, char in enumerate(source):
        if char == "(" and depth == 0:
            parts.append(re.escape(source[start:index]))
            start = index
        if char in "()":
            depth += 1 if char == "(" else -1
            if depth == 0:
                parts.append(source[start : index + 1])
                start = index + 1
    parts.append(re.escape(source[start:]))
    return re.compile("".join(parts))


class LocalVercel:
    def __init__(self, config: dict[str, Any], function: ASGIApp, public: Path) -> None:
        self.function = function
        # Inside a Starlette app, a missing file is a 404 answer, not an exception.
        self.static = Starlette(routes=[Mount("/", StaticFiles(directory=public, html=True))])
        self.rewrites = [source_pattern(rule["source"]) for rule in config.get("rewrites", [])]
        self.headers = [
            (
                source_pattern(rule["source"]),
                [(h["key"].lower().encode(), h["value"].encode()) for h in rule["headers"]],
            )
            for rule in config.get("headers", [])
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # the lifespan is the function's
            await self.function(scope, receive, send)
            return
        path = scope["path"]
        to_function = any(pattern.fullmatch(path) for pattern in self.rewrites)
        target = self.function if to_function else self.static
        extra: Headers = [h for pattern, hs in self.headers if pattern.fullmatch(path) for h in hs]
        if not extra:
            await target(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await target(scope, receive, send_with_headers)


app = LocalVercel(json.loads((ROOT / "vercel.json").read_text()), function, ROOT / "public")
