"""The transactional outbox: messages are rows until the relay publishes them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import Envelope, Message
from contracts.topics import TopicSpec
from shared.codec import encode, headers_for
from shared.tables import outbox


@dataclass(frozen=True)
class Outgoing:
    """A message a handler wants sent once its transaction commits."""

    topic: TopicSpec
    key: str
    payload: Message


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
