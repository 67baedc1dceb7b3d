"""Structured logs for the HTTP API: one JSON object per line, never a secret.

Operators grep logs by `request_id` (the same id every response carries), so each line has
it. Tokens, API keys and carrier credentials must never reach a log file: nothing here logs a
header, a body or a query string, and a filter scrubs anything that looks like a secret (and
the exact credentials of the request being served) from every message before it is written.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar
from typing import Any, TextIO

from knm import secrets

#: the id of the request being served (set by the API middleware)
request_id_var: ContextVar[str | None] = ContextVar("knm_request_id", default=None)
#: credentials seen in the request being served; scrubbed from any log line
request_secrets_var: ContextVar[tuple[str, ...]] = ContextVar("knm_request_secrets", default=())

_MANAGED = ("knm", "uvicorn", "uvicorn.error")


def scrub(text: str) -> str:
    """`text` with every `secret=value` pair, every known request credential and every live
    carrier secret masked (`knm.secrets`)."""
    text = secrets.scrub(text, request_secrets_var.get())
    text = secrets.registry.scrubber()(text)
    return secrets.SECRET_ASSIGNMENT.sub(lambda m: m.group(1) + secrets.MASK, text)


def remember_secret(value: str | None) -> None:
    """Mark a credential of the current request so that no log line can contain it."""
    if value:
        request_secrets_var.set(request_secrets_var.get() + (value,))


class RedactingFilter(logging.Filter):
    """Rewrites a record's message (and exception text) with secrets masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the line
            message = str(record.msg)
        record.msg, record.args = scrub(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        record.exc_info = None if record.exc_text else record.exc_info
        if not getattr(record, "request_id", None):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id and extras."""

    _STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id",
                                                        "color_message"}

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
        }
        for key, value in vars(record).items():
            if key not in self._STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_text:
            out["exception"] = record.exc_text
        return json.dumps(out, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """For a terminal: a readable line, still carrying the request id."""

    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", None) or request_id_var.get() or "-"
        line = f"{self.formatTime(record)} {record.levelname:<7} {record.name} [{rid}] " \
               f"{record.getMessage()}"
        if record.exc_text:
            line += "\n" + record.exc_text
        return line


_configured: logging.Handler | None = None


def configure(level: str | int = "INFO", stream: TextIO | None = None,
              json_lines: bool | None = None) -> logging.Handler:
    """Send knm's and uvicorn's logs to `stream` (stderr): JSON lines unless it is a TTY.

    Idempotent: a second call replaces the handler installed by the first.
    """
    global _configured
    stream = stream or sys.stderr
    if json_lines is None:
        json_lines = not (hasattr(stream, "isatty") and stream.isatty())
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    for name in _MANAGED:
        logger = logging.getLogger(name)
        if _configured is not None and _configured in logger.handlers:
            logger.removeHandler(_configured)
        if name != "uvicorn.error":  # uvicorn.error propagates to uvicorn
            logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = name == "uvicorn.error"
    _configured = handler
    return handler


def is_configured() -> bool:
    return _configured is not None


def reset() -> None:
    """Undo `configure` (tests; an embedding application taking logging back)."""
    global _configured
    if _configured is None:
        return
    for name in _MANAGED:
        logger = logging.getLogger(name)
        if _configured in logger.handlers:
            logger.removeHandler(_configured)
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
    _configured = None
