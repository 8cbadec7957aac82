"""Where the server's timestamps come from: `Clock`, a dependency tests replace with their own."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends


def now() -> datetime:
    """UTC, truncated to what MongoDB keeps (milliseconds): the object returned is the object
    stored."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def get_clock() -> Callable[[], datetime]:
    """The clock routes read; `app.dependency_overrides[get_clock]` replaces it in tests."""
    return now


Clock = Annotated[Callable[[], datetime], Depends(get_clock)]
