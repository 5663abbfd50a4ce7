"""Who a log line is about: the request id and tenant in contextvars, and JSON or text log output.

Every log record made in a process that called ``install_log_context()`` (``configure_logging``
does) carries ``request_id`` and ``tenant_id`` attributes taken from the contextvars, so a line
logged anywhere below a request (SQL errors, resolvers, libraries) is tied to it.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

from analytics.settings import Settings

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
tenant_id: ContextVar[int | None] = ContextVar("tenant_id", default=None)

LOG_FORMATS = ("json", "text")

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is logged too.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "request_id", "tenant_id", "taskName"}


def bind_tenant(tenant: int | None) -> None:
    """Tie the rest of this request's log lines to ``tenant`` (called once the API key resolves)."""
    tenant_id.set(tenant)


_installed = False


def install_log_context() -> None:
    """Make every new log record carry ``request_id`` and ``tenant_id`` (idempotent)."""
    global _installed
    if _installed:
        return
    base = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        record.request_id = request_id.get()
        record.tenant_id = tenant_id.get()
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, message, request_id, tenant_id, extras, exc_info."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "tenant_id": getattr(record, "tenant_id", None),
        }
        for key in record.__dict__.keys() - _STANDARD:  # what ``extra=`` added
            if not key.startswith("_"):
                doc[key] = record.__dict__[key]
        if record.exc_info:
            doc["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            doc["stack_info"] = self.formatStack(record.stack_info)
        return orjson.dumps(doc, default=str).decode()


class TextFormatter(logging.Formatter):
    """Human-readable lines for ``analytics dev``: the usual fields plus the request and tenant."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        rid, tenant = getattr(record, "request_id", None), getattr(record, "tenant_id", None)
        if rid:
            line += f" request_id={rid}"
        if tenant is not None:
            line += f" tenant_id={tenant}"
        return line


def configure_logging(settings: Settings) -> None:
    """Send every log record to stderr in ``settings.log_format`` at ``settings.log_level``."""
    install_log_context()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # uvicorn's own loggers propagate to ours (it is run with log_config=None).
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
