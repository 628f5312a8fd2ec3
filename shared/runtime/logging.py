"""Structured logs with the correlation id of the message being handled.

Every line is masked as it is written (``shared.runtime.redaction.mask_text``):
whatever a message, an extra field or an exception quotes, nothing shaped like a
store-credit code reaches a log in clear."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TextIO

from shared.runtime.redaction import mask_text

correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)
_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


class _ContextFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.correlation_id = correlation_id_var.get()
        return True


def _extras(record: logging.LogRecord) -> dict[str, object]:
    skip = _RESERVED | {"service", "correlation_id"}
    return {k: v for k, v in record.__dict__.items() if k not in skip and not k.startswith("_")}


class TextFormatter(logging.Formatter):
    """``12:00:01.123 INFO  ledger  message  key=value ... [cid=...]``"""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S.%f")[:-3]
        parts = [
            stamp,
            f"{record.levelname:<5}",
            getattr(record, "service", "-"),
            record.getMessage(),
        ]
        parts += [f"{k}={v}" for k, v in _extras(record).items()]
        cid = getattr(record, "correlation_id", None)
        if cid:
            parts.append(f"cid={cid}")
        line = "  ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return mask_text(line)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "service": getattr(record, "service", None),
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": getattr(record, "correlation_id", None),
        }
        entry.update(_extras(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return mask_text(json.dumps(entry, default=str))


def log_handler(service: str, fmt: str = "text", stream: TextIO | None = None) -> logging.Handler:
    """A handler writing ``service``'s lines, each with the correlation id in context."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.addFilter(_ContextFilter(service))
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    return handler


def configure_logging(service: str, level: str = "INFO", fmt: str = "text") -> None:
    handler = log_handler(service, fmt)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "kafka", "sqlalchemy.engine"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # A broker's first start creates its offsets topic; until then aiokafka logs
    # every coordinator lookup as an error. It retries by itself.
    logging.getLogger("aiokafka.consumer.group_coordinator").setLevel(logging.CRITICAL)
