"""The transactional outbox: messages are rows until the relay publishes them."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import Actor, ActorKind, Command, Envelope, Message
from contracts.results import SEALED_PRODUCED, RejectionCode
from contracts.state import COMPANIONS, companion_message_id
from contracts.topics import TopicSpec
from shared.runtime.claims import CLAIM_HEADER, Signer
from shared.runtime.codec import encode, headers_for
from shared.runtime.messaging_tables import outbox
from shared.runtime.rules import Rejected
from shared.runtime.settings import Settings

MAX_RECORD_BYTES = 1_000_000
"""The most one row may hold, value and key: Kafka takes 1 MiB in a record by default
(the producer's max_request_size, the broker's message.max.bytes), headers included. A
row it refuses would stop the relay for good, and every row after it with it."""
ENVELOPE_ROOM = 4_096
"""Room for the envelope around a payload and for the key (ids are at most 200 chars)."""


class MessageTooLarge(Rejected):
    """A message too large to publish: refused before anything is committed."""

    def __init__(self, size: int) -> None:
        super().__init__(
            RejectionCode.MESSAGE_TOO_LARGE,
            f"It would publish a message of about {size} bytes; Kafka takes at most "
            f"{MAX_RECORD_BYTES} in one record.",
        )


def check_fits(payload: Message) -> None:
    """Raise MessageTooLarge for a payload whose message Kafka would refuse."""
    size = len(payload.model_dump_json()) + ENVELOPE_ROOM
    if size > MAX_RECORD_BYTES:
        raise MessageTooLarge(size)


@dataclass(frozen=True)
class Outgoing:
    """A message a handler wants sent once its transaction commits."""

    topic: TopicSpec
    key: str
    payload: Message
    message_id: uuid.UUID | None = None
    """Default: derived from the cause. Give one (from :func:`stable_message_id`) when
    the sender must know it beforehand, to match the result of a command it sends."""


def row_for(
    topic: str, key: str | None, envelope: Envelope[Message], signer: Signer | None = None
) -> dict[str, Any]:
    """The outbox row of one message (MessageTooLarge if Kafka could not take it); a
    command is signed by ``signer``, who vouches for its actor (``shared.runtime.claims``)."""
    value = encode(envelope)
    size = len(value) + len((key or "").encode())
    if size > MAX_RECORD_BYTES:
        raise MessageTooLarge(size)
    headers = headers_for(envelope)
    if signer is not None and isinstance(envelope.payload, Command):
        headers[CLAIM_HEADER] = signer.claim(value, envelope.actor)
    return {
        "message_id": envelope.message_id,
        "topic": topic,
        "key": key,
        "headers": headers,
        "value": value,
        "secret": carries_secret(envelope.payload),
    }


def carries_secret(payload: Message) -> bool:
    """A sealed code or token in the message (its ``secret_fields``, or a result's
    ``produced``): its outbox row is emptied once published."""
    if any(getattr(payload, name, None) for name in payload.secret_fields):
        return True
    produced = getattr(payload, "produced", None)
    return isinstance(produced, dict) and any(produced.get(name) for name in SEALED_PRODUCED)


_INSERT = insert(outbox).on_conflict_do_nothing(index_elements=["message_id"])
"""A message id already in the outbox is the same message written again: kept once."""
_INSERT_RETURNING = _INSERT.returning(outbox.c.id, outbox.c.message_id)


async def add(
    session: AsyncSession,
    topic: str,
    key: str | None,
    envelope: Envelope[Message],
    signer: Signer | None = None,
) -> None:
    """Write one message to the outbox, in the caller's transaction (MessageTooLarge if
    Kafka could not take it)."""
    await session.execute(_INSERT.values(**row_for(topic, key, envelope, signer)))


class Sink(Protocol):
    """Where a handler's messages go: straight to the outbox, or to a batch's rows."""

    async def add(
        self,
        session: AsyncSession,
        topic: str,
        key: str | None,
        envelope: Envelope[Message],
        signer: Signer | None = None,
    ) -> None: ...


class Direct:
    """Each message is its own INSERT, at once."""

    async def add(
        self,
        session: AsyncSession,
        topic: str,
        key: str | None,
        envelope: Envelope[Message],
        signer: Signer | None = None,
    ) -> None:
        await add(session, topic, key, envelope, signer)


DIRECT = Direct()


@dataclass(frozen=True)
class OutboxRow:
    """A row as written, with the id the outbox gave it: what the relay sends."""

    id: int
    topic: str
    key: str | None
    headers: dict[str, str]
    value: bytes
    secret: bool


def written_rows(rows: list[dict[str, Any]], ids: Any) -> list[OutboxRow]:
    """The rows an INSERT wrote, from its ``RETURNING id, message_id`` (a message id that
    was there already wrote nothing), in id order."""
    by_message = {row["message_id"]: row for row in rows}
    return sorted(
        (
            OutboxRow(
                id=found.id,
                topic=by_message[found.message_id]["topic"],
                key=by_message[found.message_id]["key"],
                headers=by_message[found.message_id]["headers"],
                value=by_message[found.message_id]["value"],
                secret=by_message[found.message_id]["secret"],
            )
            for found in ids
        ),
        key=lambda row: row.id,
    )


class HandOver(Protocol):
    """Where committed rows go to be sent (the relay): a token before the transaction,
    the rows it wrote with the token after its commit."""

    def hand_over_token(self) -> int: ...

    def hand_over(self, rows: Sequence[OutboxRow], token: int) -> None: ...


@dataclass(frozen=True)
class AfterCommit:
    """What a processor tells the relay once a transaction committed: the rows it wrote
    (every one), handed over with the token taken before the transaction, or a ``wake``
    if there is no relay to hand them to."""

    wake: Callable[[], None]
    relay: HandOver | None = None

    def token(self) -> int:
        """Taken before the transaction begins."""
        return self.relay.hand_over_token() if self.relay is not None else 0

    def committed(self, written: Sequence[OutboxRow], token: int) -> None:
        if self.relay is not None:
            self.relay.hand_over(written, token)
        else:
            self.wake()


@dataclass
class BatchRows:
    """A batch's messages, written by ``flush`` in one statement, in the order added
    (the outbox's ids, and so the relay's order per key, follow that order). What it
    wrote is kept in ``written``, for the relay once the transaction commits."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    written: list[OutboxRow] = field(default_factory=list)

    async def add(
        self,
        session: AsyncSession,
        topic: str,
        key: str | None,
        envelope: Envelope[Message],
        signer: Signer | None = None,
    ) -> None:
        self.rows.append(row_for(topic, key, envelope, signer))

    def take(self) -> list[dict[str, Any]]:
        """The rows not written yet, forgotten as written: the caller writes them."""
        rows, self.rows = self.rows, []
        return rows

    async def flush(self, session: AsyncSession) -> None:
        rows = self.take()
        if rows:
            ids = await session.execute(_INSERT_RETURNING, rows)
            self.written += written_rows(rows, ids)


_NAMESPACE = uuid.UUID("6f1c2a52-8f0e-4c61-9d55-1f4b8f7c2d10")


async def add_companion(
    sink: Sink, session: AsyncSession, settings: Settings, envelope: Envelope[Message]
) -> None:
    """A snapshot event's copy on its state topic, keyed by its entity (``contracts.state``)."""
    companion = COMPANIONS.get(envelope.payload.message_type)
    if companion is None:
        return
    copy = envelope.model_copy(
        update={
            "message_id": companion_message_id(envelope.message_id),
            "idempotency_key": str(companion_message_id(envelope.message_id)),
        }
    )
    key = companion.key(envelope.payload)
    await sink.add(session, settings.topic(companion.topic), key, copy)


def stable_message_id(origin: str, index: int | str) -> uuid.UUID:
    """The id of the ``index``-th message caused by ``origin``: the same every time,
    so doing the same work twice can never publish two different messages."""
    return uuid.uuid5(_NAMESPACE, f"{origin}:{index}")


def envelope_for(
    payload: Message,
    *,
    message_id: uuid.UUID,
    actor: Actor,
    correlation_id: str,
    causation_id: str | None,
) -> Envelope[Message]:
    return Envelope[Message](
        message_id=message_id,
        idempotency_key=str(message_id),
        type=payload.message_type,
        schema_version=payload.schema_version,
        correlation_id=correlation_id,
        causation_id=causation_id,
        occurred_at=datetime.now(UTC),
        actor=actor,
        payload=payload,
    )


async def add_system_messages(
    session: AsyncSession,
    settings: Settings,
    service: str,
    messages: list[Outgoing],
    *,
    origin: str,
    correlation_id: str,
) -> None:
    """Messages a service sends on its own (a timer, not a command), as actor ``system``."""
    actor = Actor(kind=ActorKind.SYSTEM, id=service)
    for index, message in enumerate(messages):
        envelope = envelope_for(
            message.payload,
            message_id=message.message_id or stable_message_id(origin, index),
            actor=actor,
            correlation_id=correlation_id,
            causation_id=None,
        )
        await add(
            session,
            settings.topic(message.topic),
            message.key,
            envelope,
            settings.service_signer(service),
        )
        await add_companion(DIRECT, session, settings, envelope)
