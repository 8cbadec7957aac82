"""The field types a request body takes, one rule per JSON type, written once for every
resource to import: what `Input` accepts, how it is stored, and how it reads back.

`Input` is strict: each field takes exactly its JSON type and nothing that merely converts to
it, so a client sending the wrong type learns it at once instead of storing a guess.
- text: `Text(n)` (backend/text.py): a JSON string, trimmed, 1 to n characters, no control or
  format character.
- integer: `Integer(ge, le)`: a JSON integer in the range. `1.5`, `"1"` and `true` are
  refused; `1.0` is the integer 1 (JSON, and JSON Schema's `integer`, make no difference
  between them). Stored and read back as an integer.
- boolean: `bool`: `true` or `false` only, never `1` or `"true"`; strict `Input` does it alone.
- date: `Date`: JSON has no date type, so a day is the string `YYYY-MM-DD` naming a day of the
  calendar; a number, `"0"`, `"2026-13-01"` or a date-time is refused. Stored as a BSON date at
  midnight UTC, so MongoDB compares and sorts it as a date; read back as the same string.
- list: `UniqueList(item, max_items)`: a JSON array of at most `max_items`, each of `item`'s
  rule, no two equal. The schema says `uniqueItems`, which compares values as sent: an item
  type that normalises (trims) would refuse what the schema allows, so texts in a list are
  `Text(n, trim=False)`. Stored and read back in order.
"""

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    PlainValidator,
    SerializationInfo,
    WithJsonSchema,
)

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
NOT_A_DAY = 'a date is a string "YYYY-MM-DD" naming a day of the calendar'


def _day(value: object) -> date:
    # A datetime only ever comes from the store, which keeps a day as its midnight in UTC.
    if isinstance(value, datetime):
        return value.astimezone(UTC).date()
    if isinstance(value, str) and _DAY.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(NOT_A_DAY)


def _stored_or_written(day: date, info: SerializationInfo) -> datetime | str:
    """JSON gets `YYYY-MM-DD`; `model_dump()`, which is what is stored, the BSON date."""
    return (
        day.isoformat() if info.mode_is_json() else datetime.combine(day, datetime.min.time(), UTC)
    )


Date = Annotated[
    date,
    PlainValidator(_day),
    PlainSerializer(_stored_or_written),
    WithJsonSchema({"type": "string", "format": "date", "description": "YYYY-MM-DD"}),
]


def _whole(value: object) -> object:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def Integer(ge: int, le: int) -> Any:  # used as a type, like pydantic's conint
    """The type of a whole-number field: `priority: Integer(0, 5)`."""
    return Annotated[int, Field(ge=ge, le=le), BeforeValidator(_whole)]


def _no_two_equal(values: list[Any]) -> list[Any]:
    if len(set(values)) != len(values):
        raise ValueError("each value may appear once")
    return values


def UniqueList(item: Any, max_items: int) -> Any:  # used as a type, like pydantic's conlist
    """The type of a list field: `tags: UniqueList(Text(30), 10)`."""
    return Annotated[
        list[item],
        Field(max_length=max_items, json_schema_extra={"uniqueItems": True}),
        AfterValidator(_no_two_equal),
    ]
