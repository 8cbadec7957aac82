"""Operation ids a person would write, as generated clients name their functions: the route
function's name in camelCase (`create_item` is `createItem`), unique in the document."""

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute

from backend.errors import route_operations


def operation_id(route: Any) -> str:
    """`create_item` -> `createItem`: the app's `generate_unique_id_function`."""
    return _camel_case(route.name)


def name_operations(openapi: dict[str, Any], routes: Sequence[BaseRoute]) -> None:
    """Give every operation its route's id, whichever way the route was added (a router with
    its own `generate_unique_id_function`, an APIRoute made by hand), unless the route sets
    `operation_id` itself. An id two operations share (two functions of one name) gets the
    operation's tag in front, then, if still shared, a number after."""
    named = [
        (route, operation)
        for route, _, operation in route_operations(openapi, routes)
        if route.operation_id is None
    ]
    for route, operation in named:
        operation["operationId"] = operation_id(route)
    for operation in _sharing_an_id(named):
        tag = (operation.get("tags") or [""])[0]
        operation["operationId"] = _camel_case(f"{tag}_{operation['operationId']}")
    counts = Counter[str]()
    for operation in _sharing_an_id(named):
        counts[operation["operationId"]] += 1
        operation["operationId"] += str(counts[operation["operationId"]])


def _sharing_an_id(named: list[tuple[Any, dict[str, Any]]]) -> list[dict[str, Any]]:
    counts = Counter(operation["operationId"] for _, operation in named)
    return [operation for _, operation in named if counts[operation["operationId"]] > 1]


def _camel_case(name: str) -> str:
    first, *rest = [word for word in re.split(r"[\W_]+", name) if word] or ["operation"]
    return first[:1].lower() + first[1:] + "".join(word[:1].upper() + word[1:] for word in rest)
