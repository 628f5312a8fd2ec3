"""The query consumer: answer questions over Kafka request/reply, changing nothing.

A client publishes a query (an envelope) with a ``reply_to`` header naming the
topic it reads, and a correlation id it has not used for another question in
flight. The answer (or a ``QueryFailed``) goes to that topic, keyed by the
correlation id, in an envelope of its own whose correlation id is the query's
and whose causation id is the query's message id.

Why these choices:

- The reply is published by this module as raw bytes, not as FastStream's
  return-value reply (the subscriber has ``no_reply=True``): the reply must be
  our envelope with our headers, and a handler that returns ``None`` would
  otherwise make FastStream publish an empty reply to ``reply_to``.
- Ack policy NACK_ON_ERROR: a transient failure (database or Kafka away) raises
  after a pause and the query is read again; answering twice is harmless, a
  client ignores replies it no longer waits for. Any other failure is a bug for
  this one query: it is dead-lettered and answered with ``internal_error``.
- ``auto_offset_reset="latest"``: when the consumer group is new (or its
  committed offsets expired), old questions are skipped; whoever asked them
  has given up by now. Once the group has committed offsets a restart resumes
  from them, so a question asked during a short outage is still answered.
- Handlers run in a READ ONLY transaction: a query that tried to write would
  fail instead of quietly changing the ledger.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from aiokafka.errors import (
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import (
    HEADER_CORRELATION_ID,
    HEADER_MESSAGE_ID,
    HEADER_REPLY_TO,
    Actor,
    ActorKind,
    Message,
)
from contracts.ledger import QueryFailed
from contracts.topics import TopicSpec
from shared.runtime.broker import RESTING_CONSUMER
from shared.runtime.claims import ClaimError, Verifier
from shared.runtime.codec import (
    NOT_SEALED,
    DecodeError,
    Incoming,
    decode,
    encode,
    headers_for,
)
from shared.runtime.commands import HandlerContext
from shared.runtime.contract_checks import check_code
from shared.runtime.db import SessionFactory
from shared.runtime.dead_letters import Parking, Redactor
from shared.runtime.logging import correlation_id_var
from shared.runtime.metrics import QUERIES_CONSUMER, QueryOutcome, ServiceMetrics
from shared.runtime.outbox import envelope_for
from shared.runtime.pipeline import RETRY_PAUSE_SECONDS, is_transient
from shared.runtime.redaction import mask_text
from shared.runtime.settings import Settings

log = logging.getLogger(__name__)

REPLY_TO_HEADER = HEADER_REPLY_TO
"""The header naming the reply topic (FastStream's name for it, so its clients work too)."""
FASTSTREAM_CORRELATION_HEADER = "correlation_id"
"""FastStream's own correlation header; read when ours (``correlation-id``) is missing."""
MAX_ID_LENGTH = 200

INVALID_QUERY = "invalid_query"
INTERNAL_ERROR = "internal_error"
NO_REPLY_TO = "no_reply_to"
REPLY_TO_NOT_ALLOWED = "reply_to_not_allowed"
REPLY_TOO_LARGE = "reply_too_large"
REPLY_TOPIC_SUFFIX = "query-replies"
"""Replies go only to topics named ``*query-replies``: a client must not be able to make
a service publish into its event or command topics."""


def _too_large() -> QueryFailed:
    return QueryFailed(
        code=REPLY_TOO_LARGE,
        reason="The answer is more than Kafka takes in one record; ask for a smaller page.",
    )


TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")
"""What Kafka accepts as a topic name."""


def reply_topic_allowed(topic: str, prefix: str = "") -> bool:
    """A legal topic name of this environment (its prefix) ending ``query-replies``."""
    return (
        TOPIC_NAME.fullmatch(topic) is not None
        and topic.startswith(prefix)
        and topic.endswith(REPLY_TOPIC_SUFFIX)
    )


def _drop_reason(error: BaseException) -> str:
    """A bounded label for a reply Kafka did not take."""
    if isinstance(error, TimeoutError):
        return "timed_out"
    if isinstance(error, UnknownTopicOrPartitionError):
        return "unknown_topic"
    if isinstance(error, TopicAuthorizationFailedError):
        return "not_allowed"
    if isinstance(error, MessageSizeTooLargeError | RecordListTooLargeError):
        return "too_large"
    return "kafka_error"


QueryHandler = Callable[[AsyncSession, Incoming[Any], HandlerContext], Awaitable[Message]]


@dataclass(frozen=True)
class QueryRoute:
    """A query type and the handler that answers it."""

    model: type[Message]
    handle: QueryHandler
    read_only: bool = True
    """False for the rare query with bookkeeping (counting wrong store-credit codes)."""


class QueryFailure(Exception):
    """Raised by a handler for a question that has no answer; it becomes ``QueryFailed``."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


def header(record: Any, name: str) -> str | None:
    """A header of an aiokafka record as text (the last one wins), or None if absent or empty."""
    found: str | None = None
    for key, value in record.headers or ():
        if key == name and value:
            found = value.decode("utf-8", "replace")
    return found


def _bounded(value: str | None) -> str | None:
    """An id from a header, cut to what an envelope accepts (a client may send anything)."""
    return value[:MAX_ID_LENGTH] if value else None


class QueryResponder:
    """Answers the queries of one service; kept apart from FastStream so it reads plainly."""

    def __init__(
        self,
        broker: KafkaBroker,
        *,
        service: str,
        sessions: SessionFactory,
        routes: Mapping[str, QueryRoute],
        dead_letter_topic: str,
        group: str,
        context: HandlerContext,
        redact: Redactor | None = None,
        metrics: ServiceMetrics | None = None,
        prefix: str = "",
        reply_timeout_s: float = 5.0,
        verifier: Verifier | None = None,
    ) -> None:
        self.broker = broker
        self.verifier = verifier or Verifier({}, 0)
        self.prefix = prefix
        self.reply_timeout_s = reply_timeout_s
        self.metrics = metrics or ServiceMetrics(service, process_metrics=False)
        self.context = context
        self.service = service
        self.sessions = sessions
        self.routes = routes
        self.park = Parking(
            broker,
            dead_letter_topic,
            group,
            lambda reason: self.metrics.dead_letter(QUERIES_CONSUMER, reason),
            redact,
        )
        self.actor = Actor(kind=ActorKind.SERVICE, id=service)
        self.known: dict[str, type[Message]] = {n: r.model for n, r in routes.items()}

    async def respond(self, record: Any) -> None:
        """Decode, answer and reply to one record; raises only transient failures."""
        reply_to = header(record, REPLY_TO_HEADER)
        if reply_to is not None and not reply_topic_allowed(reply_to, self.prefix):
            detail = (
                f"reply_to {reply_to[:200]!r} is not a {self.prefix}*{REPLY_TOPIC_SUFFIX} topic"
            )
            await self.park(record, REPLY_TO_NOT_ALLOWED, detail)
            return
        try:
            incoming = decode(record.value, self.known)
        except DecodeError as error:
            if error.code != NOT_SEALED:  # a clear code is answered, never kept
                await self.park(record, error.code, error.detail)
            if reply_to is not None:
                await self._reply_undecodable(record, reply_to, error)
            return
        envelope = incoming.envelope
        token = correlation_id_var.set(envelope.correlation_id)
        try:
            if reply_to is None:
                log.warning("query without a reply_to header", extra={"type": envelope.type})
                await self.park(record, NO_REPLY_TO, "A query needs a reply_to header.")
                return
            answer, outcome = await self._vouched_answer(record, incoming)
            cause = str(envelope.message_id)
            if await self.reply(reply_to, answer, envelope.correlation_id, cause) == "too_large":
                answer, outcome = _too_large(), QueryOutcome.REFUSED
                await self.reply(reply_to, answer, envelope.correlation_id, cause)
            self.metrics.query(envelope.type, outcome)
        finally:
            correlation_id_var.reset(token)

    async def _vouched_answer(
        self, record: Any, incoming: Incoming[Message]
    ) -> tuple[Message, QueryOutcome]:
        """As :meth:`_answer_or_fail` for a query whose actor a good claim vouches for;
        ``unauthenticated`` or ``forbidden`` for any other, never answered."""
        envelope = incoming.envelope
        try:
            signer = self.verifier.verify(record.value, record.headers or (), envelope.actor)
        except ClaimError as error:
            log.warning(
                "query refused: its actor is not vouched for",
                extra={"type": envelope.type, "code": error.code, "reason": error.reason},
            )
            return QueryFailed(code=error.code, reason=error.reason), QueryOutcome.REFUSED
        return await self._answer_or_fail(record, replace(incoming, signer=signer))

    async def _answer_or_fail(
        self, record: Any, incoming: Incoming[Message]
    ) -> tuple[Message, QueryOutcome]:
        """The handler's answer, a QueryFailed for a refusal, or internal_error for a bug."""
        query_type = incoming.envelope.type
        strict = self.context.settings.strict_contracts
        try:
            try:
                answer, outcome = await self.answer(incoming), QueryOutcome.ANSWERED
            except QueryFailure as failure:
                log.info("query refused", extra={"type": query_type, "code": failure.code})
                reason = mask_text(failure.reason)  # a reason may quote what was asked
                answer = QueryFailed(code=failure.code, reason=reason)
                outcome = QueryOutcome.REFUSED
            if isinstance(answer, QueryFailed):
                check_code(query_type, answer.code, strict=strict)
            return answer, outcome
        except Exception as error:
            if is_transient(error):
                raise
            log.exception("query handler failed", extra={"type": query_type})
            await self.park(record, "handler_failed", repr(error))
            failed = QueryFailed(
                code=INTERNAL_ERROR,
                reason="The service failed to answer this query; it was parked for an operator.",
            )
            return failed, QueryOutcome.FAILED

    async def answer(self, incoming: Incoming[Message]) -> Message:
        """Run the handler in a READ ONLY transaction (unless its route says otherwise):
        a handler that writes by mistake fails loudly."""
        route = self.routes[incoming.envelope.type]
        async with self.sessions() as session, session.begin():
            if route.read_only:
                await session.execute(text("SET TRANSACTION READ ONLY"))
            return await route.handle(session, incoming, self.context)

    async def _reply_undecodable(self, record: Any, reply_to: str, error: DecodeError) -> None:
        """Tell the asker its query was invalid, matched by whatever correlation id it sent
        (an envelope that is itself wrong is matched by its headers, as raw bytes are)."""
        envelope = error.envelope if error.code != "invalid_envelope" else None
        correlation_id = (
            envelope.correlation_id
            if envelope is not None
            else _bounded(header(record, HEADER_CORRELATION_ID))
            or _bounded(header(record, FASTSTREAM_CORRELATION_HEADER))
        )
        cause = (
            str(envelope.message_id)
            if envelope is not None
            else _bounded(header(record, HEADER_MESSAGE_ID))
        )
        if error.code == NOT_SEALED:
            failed = QueryFailed(code=NOT_SEALED, reason=error.detail)
        else:
            failed = QueryFailed(code=INVALID_QUERY, reason=f"{error.code}: {error.detail}")
        await self.reply(reply_to, failed, correlation_id, cause)

    async def reply(
        self, topic: str, payload: Message, correlation_id: str | None, causation_id: str | None
    ) -> str | None:
        """Publish the answer as our own envelope and wait for Kafka to confirm it; None
        once it did, else why it did not.

        A reply Kafka does not take in time (no such topic, not allowed, too large,
        a broker away) is dropped, logged and counted, never retried: retrying would
        hold up every later query of the partition, perhaps for good, and the asker
        times out and asks again. Without any correlation id (garbage that carried
        none) the reply gets its own message id as one: no client can match it, but
        an operator sees it.
        """
        message_id = uuid.uuid4()
        envelope = envelope_for(
            payload,
            message_id=message_id,
            actor=self.actor,
            correlation_id=correlation_id or str(message_id),
            causation_id=causation_id,
        )
        publishing = self.broker.publish(
            encode(envelope),
            topic,
            key=envelope.correlation_id.encode(),
            headers=headers_for(envelope),
            correlation_id=envelope.correlation_id,
        )
        try:
            await asyncio.wait_for(publishing, self.reply_timeout_s)
        except (KafkaError, TimeoutError) as error:
            reason = _drop_reason(error)
            self.metrics.reply_dropped(reason)
            log.warning(
                "query reply dropped",
                extra={"type": envelope.type, "reply_to": topic, "reason": reason},
            )
            return reason
        log.info("query answered", extra={"type": envelope.type, "reply_to": topic})
        return None


def register_query_consumer(
    broker: KafkaBroker,
    settings: Settings,
    *,
    service: str,
    sessions: SessionFactory,
    queries: TopicSpec,
    dead_letters: TopicSpec,
    routes: Mapping[str, QueryRoute],
    redact: Redactor | None = None,
    metrics: ServiceMetrics | None = None,
) -> None:
    """Subscribe the service's query consumer (its own group, next to the command consumer)."""
    group = query_group(settings, service)
    responder = QueryResponder(
        broker,
        service=service,
        sessions=sessions,
        routes=routes,
        dead_letter_topic=settings.topic(dead_letters),
        group=group,
        context=HandlerContext(service, settings),
        redact=redact,
        metrics=metrics,
        prefix=settings.topic_prefix,
        reply_timeout_s=settings.query_reply_timeout_s,
        verifier=settings.verifier(),
    )

    @broker.subscriber(
        settings.topic(queries),
        group_id=group,
        **RESTING_CONSUMER,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="latest",
        no_reply=True,
        title=f"{service}:queries",
    )
    async def consume_query(msg: KafkaMessage) -> None:
        with responder.metrics.timed(QUERIES_CONSUMER):
            await _consume(responder, msg.raw_message)


def query_group(settings: Settings, service: str) -> str:
    """The consumer group of a service's query consumer."""
    return f"{settings.topic_prefix}storecredit-{service}-queries"


async def _consume(responder: QueryResponder, record: Any) -> None:
    """Retry transient failures after a pause; drop (logged) what would only fail again.

    A non-transient failure outside a handler (the handler's own bugs are
    parked and answered inside) would fail on every redelivery and block the
    partition's other queries; a query is worth less than that.
    """
    try:
        await responder.respond(record)
    except Exception as error:
        if not is_transient(error):
            log.exception("query dropped", extra={"offset": record.offset})
            return
        log.warning("transient failure, will retry", extra={"error": repr(error)})
        await asyncio.sleep(RETRY_PAUSE_SECONDS)
        raise
