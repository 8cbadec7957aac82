"""JSON log lines on stderr, each with the request id and with MongoDB credentials masked."""

import functools
import json
import logging
import sys
import time
import traceback
from contextvars import ContextVar
from typing import TextIO

from backend.redact import redact

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
logger = logging.getLogger("backend")


class _Redact(logging.Filter):
    """Masks credentials in the message and the traceback, so every handler sees them masked."""

    def __init__(self, *secrets: str | None) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage(), *self.secrets), None
        if record.exc_info:
            trace = "".join(traceback.format_exception(*record.exc_info))
            record.exc_text, record.exc_info = redact(trace.rstrip(), *self.secrets), None
        record.request_id = request_id.get()
        return True


_ENCODER = json.JSONEncoder(default=str)  # made once: json.dumps(default=...) makes one a call


@functools.lru_cache(maxsize=1)
def _second(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


def _timestamp(created: float) -> str:
    """UTC, ISO 8601 to the millisecond: `2026-11-29T07:59:48.249+00:00`."""
    second = int(created)
    return f"{_second(second)}.{int((created - second) * 1000):03d}+00:00"


def _json_line(created: float, level: str, message: str, **fields: object) -> str:
    return _ENCODER.encode(
        {"time": _timestamp(created), "level": level, "message": message, **fields}
    )


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = {"request_id": getattr(record, "request_id", None)}
        if record.exc_text:
            fields["exception"] = record.exc_text
        return _json_line(record.created, record.levelname.lower(), record.getMessage(), **fields)


def log_request(rid: str, method: str, path: str, status: int, duration_ms: float) -> None:
    """The access line of a request, in the same shape as the `backend` logger's lines.

    It runs on every request, so it is kept cheap (docs/performance.md): written straight to
    stderr rather than through `logging`, and formatted by hand (`json.dumps` escapes the
    strings). It holds nothing secret to mask.
    """
    sys.stderr.write(
        f'{{"time": "{_timestamp(time.time())}", "level": "info", "message": "request", '
        f'"request_id": {json.dumps(rid)}, "method": {json.dumps(method)}, '
        f'"path": {json.dumps(path)}, "status": {status}, "duration_ms": {duration_ms}}}\n'
    )


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time (test capture, a redirected server)."""

    @property
    def stream(self) -> TextIO:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _: TextIO) -> None:
        pass


def configure_logging(*secrets: str | None) -> None:
    """Send the `backend` logger's records to stderr as JSON, masking `secrets` (idempotent)."""
    for old in logger.filters:
        logger.removeFilter(old)
    logger.addFilter(_Redact(*secrets))
    if not logger.handlers:
        handler = _StderrHandler()
        handler.setFormatter(_JsonFormatter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
