"""The inbox: an idempotency key is recorded in the same transaction as its effect.

``claim`` inserts the key first. A concurrent claim of the same key waits on
the primary key until the first transaction ends, then sees its row, so two
consumers can never both apply one key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import RawEnvelope
from shared.tables import inbox


@dataclass(frozen=True)
class Claimed:
    """The key is new: go on and apply the effect."""


@dataclass(frozen=True)
class Duplicate:
    """Same key, same payload: already handled; ``first_result`` is what it gave."""

    first_message_id: str
    first_result: dict[str, Any] | None


@dataclass(frozen=True)
class KeyReused:
    """Same key, another payload: a client bug or an attack; reject, apply nothing."""

    first_message_id: str
    first_type: str


ClaimOutcome = Claimed | Duplicate | KeyReused


async def claim(
    session: AsyncSession,
    consumer: str,
    envelope: RawEnvelope,
    fingerprint: str,
    *,
    key: str | None = None,
) -> ClaimOutcome:
    """Record ``key`` (default: the envelope's idempotency key) for ``consumer``."""
    key = key or envelope.idempotency_key
    inserted = await session.execute(
        insert(inbox)
        .values(
            consumer=consumer,
            idempotency_key=key,
            message_id=envelope.message_id,
            message_type=envelope.type,
            payload_hash=fingerprint,
        )
        .on_conflict_do_nothing(index_elements=["consumer", "idempotency_key"])
        .returning(inbox.c.consumer)
    )
    if inserted.first() is not None:
        return Claimed()
    row = (
        await session.execute(
            select(inbox.c.message_id, inbox.c.message_type, inbox.c.payload_hash, inbox.c.result)
            .where(inbox.c.consumer == consumer)
            .where(inbox.c.idempotency_key == key)
        )
    ).one()
    if row.payload_hash == fingerprint:
        return Duplicate(first_message_id=str(row.message_id), first_result=row.result)
    return KeyReused(first_message_id=str(row.message_id), first_type=row.message_type)


async def reclaim(
    session: AsyncSession, consumer: str, idempotency_key: str, envelope: RawEnvelope
) -> None:
    """Bind the key to a new message (a retry after a retryable rejection)."""
    await session.execute(
        update(inbox)
        .where(inbox.c.consumer == consumer)
        .where(inbox.c.idempotency_key == idempotency_key)
        .values(message_id=envelope.message_id, result=None)
    )


async def record_result(
    session: AsyncSession, consumer: str, idempotency_key: str, result: dict[str, Any]
) -> None:
    await session.execute(
        update(inbox)
        .where(inbox.c.consumer == consumer)
        .where(inbox.c.idempotency_key == idempotency_key)
        .values(result=result)
    )
