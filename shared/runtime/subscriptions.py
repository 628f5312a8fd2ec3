"""Subscriptions: a service learning from other services' events.

A subscription reads one topic in a consumer group of its own. Event types it
has no route for are skipped (an events topic carries many types; that is not
an error); bytes that are not a message, or a known type with an invalid
payload, go to the service's dead-letter topic. A handler runs in one
transaction with the inbox row (keyed by the event's message id, so a
redelivery changes nothing) and the outbox rows of what it publishes.
Handlers that are idempotent by themselves (a balance copy with a version
check) may skip the inbox: ``deduplicate=False``. Those that also publish nothing and
whose every write is whole by itself may skip the transaction when their event comes
alone (``in_transaction=False``): each statement then commits by itself, one round
trip instead of three (BEGIN, the statement, COMMIT).

Each subscription goes through the one consumer pipeline (:mod:`shared.runtime.pipeline`):
a poll's events in one transaction, the offsets committed after it; transient failures
retried after a pause, a handler's bug parked.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import Message
from contracts.topics import TopicSpec
from shared.runtime import inbox, outbox
from shared.runtime.codec import DecodeError, Incoming, decode, payload_fingerprint
from shared.runtime.commands import HandlerContext, add_caused
from shared.runtime.db import SessionFactory, statement_by_statement
from shared.runtime.dead_letters import Parking, Redactor
from shared.runtime.faults import crash_point
from shared.runtime.logging import correlation_id_var
from shared.runtime.metrics import EventOutcome, ServiceMetrics, events_consumer
from shared.runtime.outbox import Outgoing
from shared.runtime.pipeline import Pipeline, Run, subscribe
from shared.runtime.settings import Settings

log = logging.getLogger(__name__)

EventHandler = Callable[[AsyncSession, Incoming[Any], HandlerContext], Awaitable[list[Outgoing]]]


@dataclass(frozen=True)
class EventRoute:
    model: type[Message]
    handle: EventHandler
    deduplicate: bool = True
    in_transaction: bool = True
    """False: an event handled alone (not in a batch) runs outside a transaction, each
    statement committed by itself. Only for a handler that skips the inbox, publishes
    nothing (no outbox row could be atomic with its writes), and whose every write is
    idempotent and whole by itself, so an event redelivered after any one of them
    comes out the same. In a batch, its events share the batch's transaction."""

    def __post_init__(self) -> None:
        if not self.in_transaction and self.deduplicate:
            raise ValueError("a handler outside a transaction cannot claim its event")


class PublishedOutsideTransaction(RuntimeError):
    """A handler declared ``in_transaction=False`` returned messages: a bug (its writes
    are committed; the messages are not written, and the event is parked)."""


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
        hand_over: outbox.HandOver | None = None,
    ) -> None:
        self.service = service
        self.subscription = subscription
        self.consumer = f"{service}.events.{subscription.name}"
        self.metrics = metrics or ServiceMetrics(service, process_metrics=False)
        self.metrics_consumer = events_consumer(subscription.name)
        self._settings = settings
        self._sessions = sessions
        self._notice = outbox.AfterCommit(after_commit, hand_over)
        self.known = {name: route.model for name, route in subscription.routes.items()}
        self.context = HandlerContext(service, settings)

    async def process(self, incoming: Incoming[Any]) -> None:
        envelope = incoming.envelope
        route = self.subscription.routes[envelope.type]
        if not route.in_transaction:
            await self._process_outside_transaction(incoming, route)
            return
        messages: list[Outgoing] = []
        rows = outbox.BatchRows()
        handing = self._notice.token()
        async with self._sessions() as session, session.begin():
            first_time = not route.deduplicate or await self._claim(session, incoming)
            if first_time:
                messages = await route.handle(session, incoming, self.context)
                await add_caused(session, self._settings, self.service, envelope, messages, rows)
                await rows.flush(session)
        outcome = EventOutcome.HANDLED if first_time else EventOutcome.DUPLICATE
        self.metrics.event(self.metrics_consumer, envelope.type, outcome)  # once committed
        if not first_time:
            return
        crash_point(f"event_after_commit:{envelope.type}")
        if rows.written:
            self._notice.committed(rows.written, handing)

    async def _process_outside_transaction(
        self, incoming: Incoming[Any], route: EventRoute
    ) -> None:
        async with statement_by_statement(self._sessions) as session:
            messages = await route.handle(session, incoming, self.context)
        if messages:
            raise PublishedOutsideTransaction(
                f"{route.handle.__qualname__} returned {len(messages)} message(s) outside a "
                "transaction"
            )
        self.metrics.event(self.metrics_consumer, incoming.envelope.type, EventOutcome.HANDLED)
        crash_point(f"event_after_commit:{incoming.envelope.type}")

    async def process_batch(self, events: list[Incoming[Any]]) -> None:
        """Events, in order, in one transaction: each claimed and handled as by
        :meth:`process`, their messages written to the outbox in one statement, one
        commit. An event handler refuses nothing, so a failure is a bug or a transient
        fault: it undoes the whole batch (the consumer then retries, or goes one by one).
        An event alone is handled by :meth:`process` (outside a transaction, if its
        route says so)."""
        if len(events) == 1:
            token = correlation_id_var.set(events[0].envelope.correlation_id)
            try:
                await self.process(events[0])
            finally:
                correlation_id_var.reset(token)
            return
        rows = outbox.BatchRows()
        handing = self._notice.token()
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
            await rows.flush(session)
        for event_type, outcome in counted:
            self.metrics.event(self.metrics_consumer, event_type, outcome)  # once committed
        for event_type, outcome in counted:
            if outcome is EventOutcome.HANDLED:
                crash_point(f"event_after_commit:{event_type}")
        if rows.written:
            self._notice.committed(rows.written, handing)

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


class EventStage:
    """The pipeline's steps for one subscription (:mod:`shared.runtime.pipeline`): event
    types it has no route for are skipped; what does not decode, and an event whose
    handler fails, is parked."""

    what = "event"

    def __init__(self, processor: EventProcessor, park: Parking) -> None:
        self.processor = processor
        self.park = park

    def decode(self, record: Any) -> Incoming[Any] | DecodeError:
        try:
            return decode(record.value, self.processor.known)
        except DecodeError as error:
            return error

    def skips(self, error: DecodeError) -> bool:
        return error.code == "unknown_type"  # another consumer's business

    async def refuse(self, record: Any, error: DecodeError) -> None:
        await self.park(record, error.code, error.detail)

    async def handle_one(self, record: Any, incoming: Incoming[Any]) -> None:
        await self.processor.process(incoming)

    async def handle_run(self, run: Run) -> None:
        await self.processor.process_batch([incoming for _, incoming in run])

    async def failed(self, record: Any, incoming: Incoming[Any], error: Exception) -> None:
        await self.park(record, "handler_failed", repr(error))


def register_event_consumer(
    broker: KafkaBroker,
    settings: Settings,
    processor: EventProcessor,
    *,
    dead_letters: TopicSpec,
    redact: Redactor | None = None,
) -> None:
    """Subscribe one subscription (a consumer group of its own) through the pipeline."""
    subscription = processor.subscription
    group = f"{settings.topic_prefix}storecredit-{processor.service}-{subscription.name}"
    metrics = processor.metrics
    park = Parking(
        broker,
        settings.topic(dead_letters),
        group,
        lambda reason: metrics.dead_letter(processor.metrics_consumer, reason),
        redact,
    )
    pipeline = Pipeline(EventStage(processor, park), metrics, processor.metrics_consumer)
    subscribe(
        broker,
        settings,
        settings.topic(subscription.topic),
        group=group,
        title=f"{processor.service}:{subscription.name}",
        consume=pipeline.consume,
    )
