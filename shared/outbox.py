"""The transactional outbox: messages are rows until the relay publishes them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import Actor, ActorKind, Envelope, Message
from contracts.topics import TopicSpec
from shared.codec import encode, headers_for
from shared.settings import Settings
from shared.tables import outbox


@dataclass(frozen=True)
class Outgoing:
    """A message a handler wants sent once its transaction commits."""

    topic: TopicSpec
    key: str
    payload: Message
    message_id: uuid.UUID | None = None
    """Default: derived from the cause. Give one (from :func:`stable_message_id`) when
    the sender must know it beforehand, to match the result of a command it sends."""


async def add(
    session: AsyncSession, topic: str, key: str | None, envelope: Envelope[Message]
) -> None:
    """Write one message to the outbox, in the caller's transaction."""
    await session.execute(
        insert(outbox)
        .values(
            message_id=envelope.message_id,
            topic=topic,
            key=key,
            headers=headers_for(envelope),
            value=encode(envelope),
        )
        .on_conflict_do_nothing(index_elements=["message_id"])
    )


_NAMESPACE = uuid.UUID("6f1c2a52-8f0e-4c61-9d55-1f4b8f7c2d10")


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
        await add(session, settings.topic(message.topic), message.key, envelope)
