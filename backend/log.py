"""JSON log lines on stderr, each with the request id and with MongoDB credentials masked."""

import json
import logging
import sys
import time
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime
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


def _json_line(created: float, level: str, message: str, **fields: object) -> str:
    stamp = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    return _ENCODER.encode({"time": stamp, "level": level, "message": message, **fields})


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = {"request_id": getattr(record, "request_id", None)}
        if record.exc_text:
            fields["exception"] = record.exc_text
        return _json_line(record.created, record.levelname.lower(), record.getMessage(), **fields)


def log_request(**fields: object) -> None:
    """The access line of a request, in the same shape as the `backend` logger's lines.

    Written straight to stderr: through `logging` it cost more than serving `GET /api/` itself
    (about 50 µs against 45 µs, measured in process). It holds nothing secret to mask.
    """
    line = _json_line(time.time(), "info", "request", request_id=request_id.get(), **fields)
    sys.stderr.write(line + "\n")


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
