"""Where the server's timestamps come from and how they are written: `Clock`, a dependency tests
replace with their own, and `Timestamp`, the one format every response uses."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends
from pydantic import AwareDatetime, PlainSerializer, WithJsonSchema


def now() -> datetime:
    """UTC, truncated to what MongoDB keeps (milliseconds): the object returned is the object
    stored."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def get_clock() -> Callable[[], datetime]:
    """The clock routes read; `app.dependency_overrides[get_clock]` replaces it in tests."""
    return now


Clock = Annotated[Callable[[], datetime], Depends(get_clock)]


def _to_the_millisecond(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# `2026-12-06T02:51:36.000Z`, always with milliseconds (what MongoDB keeps) and always in UTC:
# pydantic alone drops a zero fraction (`...:36Z`), so two instants could not be ordered as text.
Timestamp = Annotated[
    AwareDatetime,
    PlainSerializer(_to_the_millisecond, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$",
            "description": "UTC, to the millisecond: 2026-12-06T02:51:36.000Z",
        },
        mode="serialization",
    ),
]
