"""What an OpenAPI document says the app serves, for the checks that walk it instead of a list of
routes (the deploy rehearsal, `make smoke`): its collections, and each path's methods.

- `collections(document)`: the paths of the GET operations that take no path parameter and answer
  200 with a JSON array: each must answer 200 JSON.
- `paths(document)`: each path with the methods it serves; `unserved_request(path, methods)` is a
  request it must refuse with 405, and `expected_allow(methods)` what that 405's Allow lists.
- `request_body(document, operation)`: a body the operation accepts and its media type, for a
  walk that must create what it then reads (tests/test_ownership.py).
"""

import re
from typing import Any

METHODS = ("GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE")
# The first a path does not serve is sent to see its 405 (DELETE, as `make smoke` always did).
UNSERVED_FIRST = ("DELETE", "PUT", "PATCH", "POST", "GET")
# Any value routes a templated path; a 405 is answered before parameters are read.
PATH_PARAMETER = re.compile(r"\{[^}/]+\}")
PATH_VALUE = "0"


def paths(document: dict[str, Any]) -> dict[str, set[str]]:
    """Each path in the document and the methods it serves, as the document declares them."""
    return {
        path: {method.upper() for method in item if method.upper() in METHODS}
        for path, item in document.get("paths", {}).items()
    }


def collections(document: dict[str, Any]) -> list[str]:
    """The paths whose GET takes no path parameter and answers 200 with a JSON array."""
    found = []
    for path, item in document.get("paths", {}).items():
        operation = item.get("get")
        if operation is None or PATH_PARAMETER.search(path):
            continue
        content = operation.get("responses", {}).get("200", {}).get("content", {})
        schema = _resolve(document, content.get("application/json", {}).get("schema", {}))
        if schema.get("type") == "array":
            found.append(path)
    return found


def expected_allow(methods: set[str]) -> set[str]:
    """What a 405's Allow lists for a path serving `methods`: those, and HEAD where GET is."""
    return methods | {"HEAD"} if "GET" in methods else set(methods)


def parse_allow(value: str | None) -> set[str]:
    return {method.strip().upper() for method in (value or "").split(",") if method.strip()}


def unserved_request(path: str, methods: set[str]) -> tuple[str, str] | None:
    """A method the path does not serve and a URL path to send it to; None if it serves them all."""
    method = next((m for m in UNSERVED_FIRST if m not in methods), None)
    return None if method is None else (method, PATH_PARAMETER.sub(PATH_VALUE, path))


def request_body(document: dict[str, Any], operation: dict[str, Any]) -> tuple[str, Any] | None:
    """The media type and a body of it the operation accepts; None when it takes no body."""
    content = operation.get("requestBody", {}).get("content", {})
    for media_type, entry in content.items():
        return media_type, example(document, entry.get("schema", {}))
    return None


def example(document: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A value `schema` accepts: its own example or default when it declares one (the way to
    help a walk with a field whose pattern a plain value misses), else the smallest value of its
    type, an object holding only its required properties."""
    schema = _resolve(document, schema)
    if schema.get("examples"):
        return schema["examples"][0]
    for key in ("example", "default", "const"):
        if key in schema:
            return schema[key]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = [s for s in schema.get(key, []) if _resolve(document, s).get("type") != "null"]
        if options:
            return example(document, options[0])
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        required, properties = schema.get("required", []), schema.get("properties", {})
        return {name: example(document, properties.get(name, {})) for name in required}
    if kind == "array":
        return [example(document, schema.get("items", {}))] * schema.get("minItems", 0)
    if kind == "string":
        formats = {"date": "2027-01-01", "date-time": "2027-01-01T00:00:00.000Z"}
        return formats.get(schema.get("format", ""), "x" * max(1, schema.get("minLength", 1)))
    if kind in ("integer", "number"):
        return schema.get("minimum", schema.get("exclusiveMinimum", -1) + 1)
    if kind == "boolean":
        return False
    return None


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """`schema`, following a local `$ref` (`#/components/schemas/...`) as far as it goes."""
    seen: set[str] = set()
    while "$ref" in schema and schema["$ref"] not in seen and schema["$ref"].startswith("#/"):
        seen.add(schema["$ref"])
        target: Any = document
        for part in schema["$ref"][2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        schema = target if isinstance(target, dict) else {}
    return schema
