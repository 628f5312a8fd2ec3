"""The one consumer pipeline commands and events go through.

A poll's records, in offset order: each is decoded; one that cannot be is refused by the
stage (parked on the dead-letter topic) after the run before it is handled, so the
offset order is kept, or skipped when it is another consumer's type; every run of decodable
messages between them is handled in **one transaction**. A transient failure (the
database or Kafka away) raises after a pause, so the poll is read again (the inbox turns
what was already committed into ignored redeliveries); any other failure undoes the run,
which is then handled one message at a time, so only the guilty message is parked and
the consumer goes on. With ``STORECREDIT_BATCH_SIZE=1`` each record is a run of its own.

Ack policy NACK_ON_ERROR: the offsets move only once the whole poll is done, i.e. after
its transactions committed or its messages were parked.

What differs between commands and events is a :class:`Stage`: how a record decodes, what
is done with one that does not, how one message and how a run are handled, and what is
done when a message's handler fails (a command is also answered ``internal_error``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from itertools import chain
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.errors import KafkaError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from shared.runtime.broker import LONG_POLL_MS, RESTING_CONSUMER
from shared.runtime.codec import DecodeError, Incoming
from shared.runtime.logging import correlation_id_var
from shared.runtime.metrics import ServiceMetrics
from shared.runtime.settings import Settings

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


async def pause_before_retry(error: BaseException) -> None:
    """A transient failure: wait a moment; the caller raises, the poll is read again."""
    log.warning("transient failure, will retry", extra={"error": repr(error)})
    await asyncio.sleep(RETRY_PAUSE_SECONDS)


def long_polls(subscriber: Any) -> Any:
    """``subscriber`` (FastStream's batch subscriber) polling with :data:`LONG_POLL_MS` and
    straight again after an empty answer. FastStream 0.7's batch subscriber would sleep
    as long again after an empty poll (a record arriving then waited for it)."""
    max_records = subscriber.max_records

    async def get_msg(consumer: AIOKafkaConsumer) -> tuple[ConsumerRecord[Any, Any], ...]:
        polled = await consumer.getmany(timeout_ms=LONG_POLL_MS, max_records=max_records)
        return tuple(chain.from_iterable(polled.values()))

    subscriber.get_msg = get_msg
    return subscriber


Run = list[tuple[Any, Incoming[Any]]]
"""Decodable records of one poll, in offset order, with what they decoded to."""


class Stage(Protocol):
    """What a kind of consumer does at each step of the pipeline."""

    what: str
    """``command`` or ``event``, for the logs."""

    def decode(self, record: Any) -> Incoming[Any] | DecodeError: ...

    def skips(self, error: DecodeError) -> bool:
        """Whether a record that does not decode is simply not this consumer's (an event
        type another subscription handles): skipped, it does not even split a run."""
        ...

    async def refuse(self, record: Any, error: DecodeError) -> None:
        """Deal with a record that does not decode (park it, answer it)."""
        ...

    async def handle_one(self, record: Any, incoming: Incoming[Any]) -> None:
        """One message in a transaction of its own."""
        ...

    async def handle_run(self, run: Run) -> None:
        """A run of messages in one transaction: all of it commits, or none."""
        ...

    async def failed(self, record: Any, incoming: Incoming[Any], error: Exception) -> None:
        """The handler of one message failed, not transiently: park it (and answer it)."""
        ...


class Pipeline:
    """A consumer's records through its :class:`Stage`; ``consume`` is the subscriber."""

    def __init__(self, stage: Stage, metrics: ServiceMetrics, consumer: str) -> None:
        self.stage = stage
        self.metrics = metrics
        self.consumer = consumer

    async def consume(self, msg: KafkaMessage) -> None:
        records = msg.raw_message if isinstance(msg.raw_message, tuple) else (msg.raw_message,)
        with self.metrics.timed(self.consumer) as timer:
            if not await self.poll(records, batch=isinstance(msg.raw_message, tuple)):
                timer.skip()  # nothing but other consumers' types: no handler's latency

    async def poll(self, records: tuple[Any, ...], *, batch: bool) -> bool:
        """Every record of one poll, in offset order; whether any was this consumer's."""
        run: Run = []
        worked = False
        for record in records:
            decoded = self.stage.decode(record)
            if isinstance(decoded, DecodeError):
                if self.stage.skips(decoded):
                    continue
                await self.apply(run)  # what came before it first: offset order
                run = []
                await self.stage.refuse(record, decoded)
                worked = True
                continue
            if not batch:
                await self.one(record, decoded)
                worked = True
                continue
            run.append((record, decoded))
        await self.apply(run)
        return worked or bool(run)

    async def apply(self, run: Run) -> None:
        """A run in one transaction; after a failure that is not transient, one message at
        a time, so only the guilty message is parked."""
        if not run:
            return
        try:
            await self.stage.handle_run(run)
        except Exception as error:
            if is_transient(error):
                await pause_before_retry(error)
                raise
            log.warning(
                f"{self.stage.what} batch failed, handled one at a time",
                extra={"error": repr(error), "messages": len(run)},
            )
            for record, incoming in run:
                await self.one(record, incoming)

    async def one(self, record: Any, incoming: Incoming[Any]) -> None:
        token = correlation_id_var.set(incoming.envelope.correlation_id)
        try:
            await self.stage.handle_one(record, incoming)
        except Exception as error:
            if is_transient(error):
                await pause_before_retry(error)
                raise
            log.exception(
                f"{self.stage.what} handler failed", extra={"type": incoming.envelope.type}
            )
            await self.stage.failed(record, incoming, error)
        finally:
            correlation_id_var.reset(token)


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
        subscriber = broker.subscriber(
            topic,
            batch=True,
            max_records=settings.batch_size,
            batch_timeout_ms=LONG_POLL_MS,
            group_id=group,
            **RESTING_CONSUMER,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            auto_offset_reset="earliest",
            no_reply=True,  # never publish to a topic a reply_to header names
            title=title,
        )
        long_polls(subscriber)(consume)
    else:
        broker.subscriber(
            topic,
            group_id=group,
            **RESTING_CONSUMER,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            auto_offset_reset="earliest",
            no_reply=True,
            title=title,
        )(consume)
