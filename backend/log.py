"""JSON log lines on stderr, each with the request id and with MongoDB credentials masked."""

import json
import logging
import sys
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


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            **getattr(record, "fields", {}),
        }
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str)


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
