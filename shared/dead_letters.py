"""Dead letters: a message that cannot be handled is parked, never dropped.

The original key and value bytes are kept as they were; the reason, the
original topic, partition and offset are added as headers, so an operator can
read it with kcat and re-publish it once fixed. A service whose messages may
carry secrets (store-credit codes) gives a redactor: the value is then kept
with those secrets masked, and a ``dlt-redacted`` header says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from faststream.kafka import KafkaBroker

from contracts import dead_letters as headers_of

log = logging.getLogger(__name__)

Redactor = Callable[[bytes], tuple[bytes, bool]]
"""Masks the secrets in a message value; answers the new value and whether it changed."""


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
    headers = {name: value.decode("utf-8", "replace") for name, value in record.headers or ()}
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
    value = record.value or b""
    if redact is not None:
        value, changed = redact(value)
        if changed:
            headers[headers_of.REDACTED] = "true"
    await broker.publish(value, topic, key=record.key, headers=headers)
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
