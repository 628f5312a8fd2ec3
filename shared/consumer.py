"""The command consumer: decode, dead-letter what cannot be handled, process the rest.

Ack policy NACK_ON_ERROR: the offset is committed only after the handler
returned, i.e. after its transaction committed (or the message was parked on
the dead-letter topic). A transient failure (database or Kafka unreachable)
raises, so the message is redelivered after a pause; the inbox makes the
redelivery harmless. Any other failure is a bug for this one message: it is
dead-lettered with a rejected result, and the consumer goes on.

Batches (``STORECREDIT_BATCH_SIZE`` above 1, the default): the consumer
takes up to that many records per poll. Each run of decodable commands is handled
in one transaction, in offset order (so in order per key), and the offsets are
committed once the whole poll is done. A transient failure rewinds every partition
of the poll to its first record (FastStream's nack), and the inbox turns what was
already committed into ignored redeliveries. Any other failure undoes the run, which
is then handled a command at a time, so only the guilty command is dead-lettered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.errors import KafkaError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from contracts.results import RejectionCode
from contracts.topics import TopicSpec
from shared.codec import DecodeError, Incoming, decode
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


BATCH_WAIT_MS = 10
"""How long a batch consumer's poll waits for records. It returns as soon as records
come; but when the wait ends with none, FastStream sleeps as long again before the next
poll, and a record arriving then waits. 10 ms keeps that under 10 ms, for about 50
empty polls a second per idle consumer (at 200 ms, the default, a lone command waited
up to 200 ms)."""

MAX_RESULT_KEY_BYTES = 1024


def _key_of(record: Any) -> str | None:
    """The command's key, for its result; None (then the correlation id is the result's
    key) if it has none, or one a result cannot carry: longer than any id could be, or
    with U+0000, which the outbox's text column refuses."""
    if record.key is None or len(record.key) > MAX_RESULT_KEY_BYTES:
        return None
    key: str = record.key.decode("utf-8", "replace")
    return None if "\x00" in key else key


Run = list[tuple[Any, Incoming[Any]]]
"""Decodable records of one poll, in offset order, with what they decoded to."""


async def apply_run(
    run: Run,
    in_one_transaction: Callable[[Run], Awaitable[None]],
    one_at_a_time: Callable[[Any, Incoming[Any]], Awaitable[None]],
    what: str,
) -> None:
    """A run in one transaction. A transient failure raises, after a pause (the poll is
    read again); any other undoes the run, which is then handled one message at a time,
    so only the guilty message is parked."""
    if not run:
        return
    try:
        await in_one_transaction(run)
    except Exception as error:
        if is_transient(error):
            log.warning("transient failure, will retry", extra={"error": repr(error)})
            await asyncio.sleep(RETRY_PAUSE_SECONDS)
            raise
        log.warning(
            f"{what} batch failed, handled one at a time",
            extra={"error": repr(error), "messages": len(run)},
        )
        for record, incoming in run:
            await one_at_a_time(record, incoming)


def subscribe(
    broker: KafkaBroker,
    settings: Settings,
    topic: str,
    *,
    group: str,
    title: str,
    consume: Callable[[KafkaMessage], Awaitable[None]],
) -> None:
    """A consumer of ``topic`` in ``group`` whose offsets move only once ``consume``
    returned (NACK_ON_ERROR): given a poll's records (a tuple) when
    ``STORECREDIT_BATCH_SIZE`` is above 1, else one record at a time."""
    if settings.batch_size > 1:
        broker.subscriber(
            topic,
            batch=True,
            max_records=settings.batch_size,
            batch_timeout_ms=BATCH_WAIT_MS,
            group_id=group,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            auto_offset_reset="earliest",
            no_reply=True,  # never publish to a topic a reply_to header names
            title=title,
        )(consume)
    else:
        broker.subscriber(
            topic,
            group_id=group,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            auto_offset_reset="earliest",
            no_reply=True,
            title=title,
        )(consume)


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

    async def handle_undecodable(record: Any, error: DecodeError) -> None:
        await park(record, error.code, error.detail)
        if error.envelope is not None:
            key = _key_of(record) or error.envelope.correlation_id
            await processor.reject_undeliverable(
                error.envelope, key, RejectionCode.INVALID_COMMAND, error.detail
            )

    async def handle_one(record: Any, incoming: Incoming[Any]) -> None:
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

    async def handle(record: Any) -> None:
        try:
            incoming = decode(record.value, known)
        except DecodeError as error:
            await handle_undecodable(record, error)
            return
        await handle_one(record, incoming)

    async def in_one_transaction(run: Run) -> None:
        await processor.process_batch(
            [
                (incoming, _key_of(record) or incoming.envelope.correlation_id)
                for record, incoming in run
            ]
        )

    async def handle_run(run: Run) -> None:
        await apply_run(run, in_one_transaction, handle_one, "command")

    async def handle_batch(records: tuple[Any, ...]) -> None:
        run: Run = []
        for record in records:
            try:
                incoming = decode(record.value, known)
            except DecodeError as error:
                await handle_run(run)  # what came before it first: offset order
                run = []
                await handle_undecodable(record, error)
                continue
            run.append((record, incoming))
        await handle_run(run)

    async def consume_commands(msg: KafkaMessage) -> None:
        with metrics.timed(COMMANDS_CONSUMER):
            if isinstance(msg.raw_message, tuple):
                await handle_batch(msg.raw_message)
            else:
                await handle(msg.raw_message)

    subscribe(
        broker,
        settings,
        settings.topic(commands),
        group=group,
        title=f"{processor.service}:commands",
        consume=consume_commands,
    )
