"""The command consumer: decode, dead-letter what cannot be handled, process the rest.

Ack policy NACK_ON_ERROR: the offset is committed only after the handler
returned, i.e. after its transaction committed (or the message was parked on
the dead-letter topic). A transient failure (database or Kafka unreachable)
raises, so the message is redelivered after a pause; the inbox makes the
redelivery harmless. Any other failure is a bug for this one message: it is
dead-lettered with a rejected result, and the consumer goes on.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka.errors import KafkaError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from contracts.results import RejectionCode
from contracts.topics import TopicSpec
from shared.codec import DecodeError, decode
from shared.commands import CommandProcessor
from shared.dead_letters import Parking, Redactor
from shared.logging import correlation_id_var
from shared.metrics import COMMANDS_CONSUMER
from shared.settings import Settings

log = logging.getLogger(__name__)

TRANSIENT_SQLSTATES = {"40001", "40P01", "57P01", "57P03", "08000", "08003", "08006"}
RETRY_PAUSE_SECONDS = 1.0


def is_transient(error: BaseException) -> bool:
    if isinstance(error, OperationalError | InterfaceError | OSError | TimeoutError | KafkaError):
        return True
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        sqlstate = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
        return sqlstate in TRANSIENT_SQLSTATES
    return False


MAX_RESULT_KEY_BYTES = 1024


def _key_of(record: Any) -> str | None:
    """The command's key, for its result; None (then the correlation id is the result's
    key) if it has none, or one a result cannot carry: longer than any id could be, or
    with U+0000, which the outbox's text column refuses."""
    if record.key is None or len(record.key) > MAX_RESULT_KEY_BYTES:
        return None
    key: str = record.key.decode("utf-8", "replace")
    return None if "\x00" in key else key


def register_command_consumer(
    broker: KafkaBroker,
    settings: Settings,
    processor: CommandProcessor,
    *,
    commands: TopicSpec,
    dead_letters: TopicSpec,
    redact: Redactor | None = None,
) -> None:
    group = f"{settings.topic_prefix}storecredit-{processor.service}"
    dead_letter_topic = settings.topic(dead_letters)
    known = processor.known_types
    metrics = processor.metrics

    park = Parking(
        broker,
        dead_letter_topic,
        group,
        lambda reason: metrics.dead_letter(COMMANDS_CONSUMER, reason),
        redact,
    )

    async def handle(record: Any) -> None:
        try:
            incoming = decode(record.value, known)
        except DecodeError as error:
            await park(record, error.code, error.detail)
            if error.envelope is not None:
                key = _key_of(record) or error.envelope.correlation_id
                await processor.reject_undeliverable(
                    error.envelope, key, RejectionCode.INVALID_COMMAND, error.detail
                )
            return
        token = correlation_id_var.set(incoming.envelope.correlation_id)
        try:
            await processor.process(incoming, _key_of(record) or incoming.envelope.correlation_id)
        except Exception as error:
            if is_transient(error):
                log.warning("transient failure, will retry", extra={"error": repr(error)})
                await asyncio.sleep(RETRY_PAUSE_SECONDS)
                raise
            log.exception("handler failed", extra={"type": incoming.envelope.type})
            await park(record, "handler_failed", repr(error))
            await processor.reject_undeliverable(
                incoming.envelope,
                _key_of(record) or incoming.envelope.correlation_id,
                "internal_error",
                "The service failed to handle this command; it was parked for an operator.",
            )
        finally:
            correlation_id_var.reset(token)

    @broker.subscriber(
        settings.topic(commands),
        group_id=group,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        no_reply=True,  # never publish to a topic a reply_to header names
        title=f"{processor.service}:commands",
    )
    async def consume_command(msg: KafkaMessage) -> None:
        with metrics.timed(COMMANDS_CONSUMER):
            await handle(msg.raw_message)
