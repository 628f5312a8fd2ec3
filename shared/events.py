"""Event consumers: a service learning from other services' events.

A subscription reads one topic in a consumer group of its own. Event types it
has no route for are skipped (an events topic carries many types; that is not
an error); bytes that are not a message, or a known type with an invalid
payload, go to the service's dead-letter topic. A handler runs in one
transaction with the inbox row (keyed by the event's message id, so a
redelivery changes nothing) and the outbox rows of what it publishes.
Handlers that are idempotent by themselves (a balance copy with a version
check) may skip the inbox: ``deduplicate=False``.

Batches as for commands (``STORECREDIT_BATCH_SIZE``): a poll's events in one
transaction, the offsets committed after it.

Ack policy NACK_ON_ERROR, as for commands: the offset moves only after the
transaction committed or the message was parked; transient failures are
retried after a pause.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import Message
from contracts.topics import TopicSpec
from shared import inbox, outbox
from shared.codec import DecodeError, Incoming, decode, payload_fingerprint
from shared.commands import HandlerContext, add_caused
from shared.consumer import RETRY_PAUSE_SECONDS, Run, apply_run, is_transient, subscribe
from shared.db import SessionFactory
from shared.dead_letters import Parking, Redactor
from shared.faults import crash_point
from shared.logging import correlation_id_var
from shared.metrics import EventOutcome, ServiceMetrics, Timer, events_consumer
from shared.outbox import Outgoing
from shared.settings import Settings

log = logging.getLogger(__name__)

EventHandler = Callable[[AsyncSession, Incoming[Any], HandlerContext], Awaitable[list[Outgoing]]]


@dataclass(frozen=True)
class EventRoute:
    model: type[Message]
    handle: EventHandler
    deduplicate: bool = True


@dataclass(frozen=True)
class Subscription:
    name: str
    topic: TopicSpec
    routes: Mapping[str, EventRoute]


class EventProcessor:
    def __init__(
        self,
        *,
        service: str,
        subscription: Subscription,
        settings: Settings,
        sessions: SessionFactory,
        after_commit: Callable[[], None],
        metrics: ServiceMetrics | None = None,
    ) -> None:
        self.service = service
        self.subscription = subscription
        self.consumer = f"{service}.events.{subscription.name}"
        self.metrics = metrics or ServiceMetrics(service, process_metrics=False)
        self.metrics_consumer = events_consumer(subscription.name)
        self._settings = settings
        self._sessions = sessions
        self._after_commit = after_commit
        self.known = {name: route.model for name, route in subscription.routes.items()}
        self.context = HandlerContext(service, settings)

    async def process(self, incoming: Incoming[Any]) -> None:
        envelope = incoming.envelope
        route = self.subscription.routes[envelope.type]
        messages: list[Outgoing] = []
        async with self._sessions() as session, session.begin():
            first_time = not route.deduplicate or await self._claim(session, incoming)
            if first_time:
                messages = await route.handle(session, incoming, self.context)
                await add_caused(session, self._settings, self.service, envelope, messages)
        outcome = EventOutcome.HANDLED if first_time else EventOutcome.DUPLICATE
        self.metrics.event(self.metrics_consumer, envelope.type, outcome)  # once committed
        if not first_time:
            return
        crash_point(f"event_after_commit:{envelope.type}")
        if messages:
            self._after_commit()

    async def process_batch(self, events: list[Incoming[Any]]) -> None:
        """Events, in order, in one transaction: each claimed and handled as by
        :meth:`process`, their messages written to the outbox in one statement, one
        commit. An event handler refuses nothing, so a failure is a bug or a transient
        fault: it undoes the whole batch (the consumer then retries, or goes one by one)."""
        rows = outbox.BatchRows()
        counted: list[tuple[str, EventOutcome]] = []
        async with self._sessions() as session, session.begin():
            for incoming in events:
                envelope = incoming.envelope
                route = self.subscription.routes[envelope.type]
                token = correlation_id_var.set(envelope.correlation_id)
                try:
                    first_time = not route.deduplicate or await self._claim(session, incoming)
                    if first_time:
                        messages = await route.handle(session, incoming, self.context)
                        await add_caused(
                            session, self._settings, self.service, envelope, messages, rows
                        )
                finally:
                    correlation_id_var.reset(token)
                counted.append(
                    (envelope.type, EventOutcome.HANDLED if first_time else EventOutcome.DUPLICATE)
                )
            wrote = bool(rows.rows)
            await rows.flush(session)
        for event_type, outcome in counted:
            self.metrics.event(self.metrics_consumer, event_type, outcome)  # once committed
        for event_type, outcome in counted:
            if outcome is EventOutcome.HANDLED:
                crash_point(f"event_after_commit:{event_type}")
        if wrote:
            self._after_commit()

    async def _claim(self, session: AsyncSession, incoming: Incoming[Any]) -> bool:
        """Record the event in the inbox; False if it was handled before (a redelivery)."""
        envelope = incoming.envelope
        claim = await inbox.claim(
            session,
            self.consumer,
            envelope,
            payload_fingerprint(incoming),
            key=str(envelope.message_id),
        )
        if isinstance(claim, inbox.Claimed):
            return True
        log.info("event already handled", extra={"type": envelope.type})
        return False


def register_event_consumer(
    broker: KafkaBroker,
    settings: Settings,
    processor: EventProcessor,
    *,
    dead_letters: TopicSpec,
    redact: Redactor | None = None,
) -> None:
    subscription = processor.subscription
    group = f"{settings.topic_prefix}storecredit-{processor.service}-{subscription.name}"
    dead_letter_topic = settings.topic(dead_letters)

    consumer = processor.metrics_consumer
    metrics = processor.metrics

    park = Parking(
        broker,
        dead_letter_topic,
        group,
        lambda reason: metrics.dead_letter(consumer, reason),
        redact,
    )

    def decoded(record: Any) -> Incoming[Any] | DecodeError:
        try:
            return decode(record.value, processor.known)
        except DecodeError as error:
            return error

    async def handle_one(record: Any, incoming: Incoming[Any]) -> None:
        token = correlation_id_var.set(incoming.envelope.correlation_id)
        try:
            await processor.process(incoming)
        except Exception as error:
            if not is_transient(error):
                log.exception("event handler failed", extra={"type": incoming.envelope.type})
                await park(record, "handler_failed", repr(error))
                return
            log.warning("transient failure, will retry", extra={"error": repr(error)})
            await asyncio.sleep(RETRY_PAUSE_SECONDS)
            raise
        finally:
            correlation_id_var.reset(token)

    async def handle(record: Any, timer: Timer) -> None:
        incoming = decoded(record)
        if isinstance(incoming, DecodeError):
            if incoming.code == "unknown_type":
                timer.skip()
                return  # another consumer's business
            await park(record, incoming.code, incoming.detail)
            return
        await handle_one(record, incoming)

    async def in_one_transaction(run: Run) -> None:
        await processor.process_batch([incoming for _, incoming in run])

    async def handle_run(run: Run) -> None:
        await apply_run(run, in_one_transaction, handle_one, "event")

    async def handle_batch(records: tuple[Any, ...], timer: Timer) -> None:
        """Runs of decodable events between the records that are parked, in offset order;
        events of types this consumer does not handle are skipped (a poll of nothing but
        those is no handler's latency)."""
        run: Run = []
        worked = False
        for record in records:
            incoming = decoded(record)
            if isinstance(incoming, DecodeError):
                if incoming.code == "unknown_type":
                    continue
                await handle_run(run)
                run = []
                await park(record, incoming.code, incoming.detail)
                worked = True
                continue
            run.append((record, incoming))
        await handle_run(run)
        if not (worked or run):
            timer.skip()

    async def consume_events(msg: KafkaMessage) -> None:
        with metrics.timed(consumer) as timer:
            if isinstance(msg.raw_message, tuple):
                await handle_batch(msg.raw_message, timer)
            else:
                await handle(msg.raw_message, timer)

    subscribe(
        broker,
        settings,
        settings.topic(subscription.topic),
        group=group,
        title=f"{processor.service}:{subscription.name}",
        consume=consume_events,
    )
