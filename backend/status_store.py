"""Where status checks are stored: the collections and their indexes, insert-once, the
Idempotency-Key claim and keyset paging, newest first. Plain values in, plain values out."""

import asyncio
import base64
import binascii
import contextlib
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

STATUS_CHECKS = "status_checks"
IDEMPOTENCY_KEYS = "idempotency_keys"
KEY_TTL_SECONDS = 24 * 60 * 60
NEWEST_FIRST = [("timestamp", -1), ("_id", -1)]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class StatusCheck:
    id: str
    client_name: str
    timestamp: datetime


class KeyReused(Exception):
    """The Idempotency-Key was first used with a different body."""


class KeyExpired(Exception):
    """The Idempotency-Key's record expired while its request ran."""


class InvalidCursor(ValueError):
    """The cursor was not made by `page`."""

    def __init__(self) -> None:
        super().__init__("Not a cursor from this API: follow the Link header's next URL.")


def now() -> datetime:
    """UTC, truncated to what MongoDB keeps (milliseconds): the object returned is the object
    stored."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


async def create_indexes(db: Any) -> None:
    """The indexes paging and key expiry rely on; creating them again is a no-op."""
    await asyncio.gather(
        db[STATUS_CHECKS].create_index(NEWEST_FIRST),
        db[IDEMPOTENCY_KEYS].create_index("created_at", expireAfterSeconds=KEY_TTL_SECONDS),
    )


async def insert_once(db: Any, check: StatusCheck) -> None:
    """Store `check`; a concurrent request with the same Idempotency-Key may have stored it."""
    from pymongo.errors import DuplicateKeyError

    with contextlib.suppress(DuplicateKeyError):
        await db[STATUS_CHECKS].insert_one(_document(check))


async def claim(
    db: Any, key: str, fingerprint: str, check: StatusCheck, created_at: datetime
) -> tuple[StatusCheck, bool]:
    """The status check `key` stands for, and whether it was claimed before: `check` when the key
    is new, else the first request's.

    The unique `_id` of the key's record decides between concurrent requests; whoever loses
    reads the winner's record. Storing the check itself is left to `insert_once`, which every
    request with the key does, so a request cut off between the two writes is completed by its
    retry.
    """
    from pymongo.errors import DuplicateKeyError

    record = {
        "_id": key,
        "fingerprint": fingerprint,
        "status_check": _document(check),
        "created_at": created_at,
    }
    try:
        await db[IDEMPOTENCY_KEYS].insert_one(record)
        return check, False
    except DuplicateKeyError:
        record = await db[IDEMPOTENCY_KEYS].find_one({"_id": key})
    if record is None:
        raise KeyExpired(key)
    if record["fingerprint"] != fingerprint:
        raise KeyReused(key)
    return _status_check(record["status_check"]), True


async def page(db: Any, limit: int, cursor: str | None) -> tuple[list[StatusCheck], str | None]:
    """Up to `limit` status checks after `cursor`, newest first, and the cursor of the next page
    (None on the last)."""
    query = {} if cursor is None else query_after(cursor)
    found = db[STATUS_CHECKS].find(query).sort(NEWEST_FIRST).limit(limit + 1)
    checks = [_status_check(doc) for doc in await found.to_list(None)]
    if len(checks) <= limit:
        return checks, None
    last = checks[limit - 1]
    millis = (last.timestamp - _EPOCH) // timedelta(milliseconds=1)
    return checks[:limit], base64.urlsafe_b64encode(f"{millis}.{last.id}".encode()).decode()


def query_after(cursor: str) -> dict[str, Any]:
    """The query for the status checks that come after `cursor` in newest-first order."""
    try:
        millis, _, last_id = base64.urlsafe_b64decode(cursor).decode().partition(".")
        timestamp = _EPOCH + timedelta(milliseconds=int(millis))
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
        raise InvalidCursor from None
    return {
        "$or": [
            {"timestamp": {"$lt": timestamp}},
            {"timestamp": timestamp, "_id": {"$lt": last_id}},
        ]
    }


def _document(check: StatusCheck) -> dict[str, Any]:
    document = asdict(check)
    document["_id"] = document.pop("id")
    return document


def _status_check(document: dict[str, Any]) -> StatusCheck:
    return StatusCheck(document["_id"], document["client_name"], document["timestamp"])
