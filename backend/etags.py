"""Conditional requests on a versioned document (RFC 9110, section 13): its `ETag` is its
`version`, `If-None-Match` on a read answers 304 while it is unchanged, and `If-Match` on a
write makes the write happen only on the version the client last read (else 412)."""

from typing import Annotated, Any

from fastapi import Header

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=1000,
        description="The ETag of the version you read: the change is made only if the item "
        "is still that version, else 412. Without it, the last write wins.",
    ),
]
IfNoneMatch = Annotated[
    str | None,
    Header(
        alias="If-None-Match",
        max_length=1000,
        description="The ETag you hold: 304 with no body while the item is still that version.",
    ),
]


def etag(document: dict[str, Any]) -> str:
    return f'"{document["version"]}"'


def _tags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def none_match(header: str | None, document: dict[str, Any]) -> bool:
    """Whether If-None-Match lets a read answer in full (weak comparison: W/ is ignored)."""
    if header is None:
        return True
    tags = _tags(header)
    return "*" not in tags and etag(document) not in (tag.removeprefix("W/") for tag in tags)


def match(header: str | None, document: dict[str, Any]) -> bool:
    """Whether If-Match lets a write go ahead on `document` (strong comparison): always when it
    is absent or `*`."""
    if header is None or "*" in _tags(header):
        return True
    return document["version"] in map(_version, _tags(header))


def version_filter(header: str | None) -> dict[str, Any]:
    """The part of a write's filter that If-Match adds: the versions it names (strong
    comparison: a weak tag matches nothing), none when it is absent or `*`."""
    if header is None or "*" in _tags(header):
        return {}
    return {"version": {"$in": [v for v in map(_version, _tags(header)) if v is not None]}}


def _version(tag: str) -> int | None:
    """The version an entity-tag of ours names: `"3"` is 3. Any other tag names none."""
    digits = tag[1:-1]
    if tag[:1] == tag[-1:] == '"' and digits.isascii() and digits.isdigit() and len(digits) < 19:
        return int(digits)  # under 19 digits: a 64-bit integer, as BSON stores it
    return None
