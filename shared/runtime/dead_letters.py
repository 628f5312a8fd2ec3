"""Dead letters: a message that cannot be handled is parked, never dropped.

The original key and value bytes are kept as they were; the reason, the
original topic, partition and offset are added as headers, so an operator can
read it with kcat and re-publish it once fixed. Every service's dead letters are
redacted first (``shared.runtime.redaction``: anything shaped like a store-credit
code, in the value and the headers, and known secrets); a ``dlt-redacted`` header
says when something was masked. A message so large
that it and these headers are more than Kafka takes in one record is parked with an
empty value (never re-driven) and only the dlt-* headers; it stays readable where it was.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka.errors import MessageSizeTooLargeError, RecordListTooLargeError
from faststream.kafka import KafkaBroker

from contracts import dead_letters as headers_of
from shared.runtime.redaction import redact_headers, redact_secrets

log = logging.getLogger(__name__)

DLT_PREFIX = "dlt-"
MAX_KEPT_KEY_BYTES = 1024

Redactor = Callable[[bytes], tuple[bytes, bool]]
"""Masks the secrets in a message value; answers the new value and whether it changed."""


@dataclass(frozen=True)
class Parking:
    """Where one consumer parks what it cannot handle, and how it counts each (a metric)."""

    broker: KafkaBroker
    topic: str
    consumer_group: str
    counted: Callable[[str], None]
    redact: Redactor | None = None

    async def __call__(self, record: Any, reason: str, detail: str) -> None:
        await send_to_dead_letters(
            self.broker,
            self.topic,
            record,
            reason=reason,
            detail=detail,
            consumer_group=self.consumer_group,
            redact=self.redact,
        )
        self.counted(reason)


async def send_to_dead_letters(
    broker: KafkaBroker,
    topic: str,
    record: Any,
    *,
    reason: str,
    detail: str,
    consumer_group: str,
    redact: Redactor | None = None,
) -> None:
    """Publish ``record`` (an aiokafka ConsumerRecord) to ``topic`` and wait for Kafka."""
    headers = {
        name: (value or b"").decode("utf-8", "replace") for name, value in record.headers or ()
    }
    headers.update(
        {
            headers_of.REASON: reason,
            headers_of.DETAIL: detail[:2000],
            headers_of.ORIGINAL_TOPIC: record.topic,
            headers_of.ORIGINAL_PARTITION: str(record.partition),
            headers_of.ORIGINAL_OFFSET: str(record.offset),
            headers_of.CONSUMER_GROUP: consumer_group,
            headers_of.FAILED_AT: datetime.now(UTC).isoformat(),
        }
    )
    value, changed = (redact or redact_secrets)(record.value or b"")
    headers, headers_changed = redact_headers(headers)  # a header may carry a code too
    if changed or headers_changed:
        headers[headers_of.REDACTED] = "true"
    try:
        await broker.publish(value, topic, key=record.key, headers=headers)
    except (MessageSizeTooLargeError, RecordListTooLargeError):
        await _park_without_bytes(broker, topic, record, headers)
    log.warning(
        "message dead-lettered",
        extra={
            "reason": reason,
            "detail": detail[:300],
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
        },
    )


async def _park_without_bytes(
    broker: KafkaBroker, topic: str, record: Any, headers: dict[str, str]
) -> None:
    """The original plus the dlt-* headers is more than Kafka takes in one record: park
    the reason without the original's value, headers and (if long) key. An empty value
    is never re-driven; the bytes stay on the original topic, at the offset named."""
    size = len(record.value or b"") + len(record.key or b"")
    omitted = f" ({size} bytes, too many to park: read them at the original offset)"
    slim = {name: text for name, text in headers.items() if name.startswith(DLT_PREFIX)}
    slim[headers_of.DETAIL] = slim[headers_of.DETAIL][: 2000 - len(omitted)] + omitted
    key = record.key if len(record.key or b"") <= MAX_KEPT_KEY_BYTES else None
    await broker.publish(b"", topic, key=key, headers=slim)
