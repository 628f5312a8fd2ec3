"""The inbox: an idempotency key is recorded in the same transaction as its effect.

``claim`` inserts the key first. A concurrent claim of the same key waits on
the primary key until the first transaction ends, then sees its row, so two
consumers can never both apply one key.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import bindparam, select, update
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


_CLAIM_MANY = (
    insert(inbox)
    .on_conflict_do_nothing(index_elements=["consumer", "idempotency_key"])
    .returning(inbox.c.idempotency_key)
)
"""One statement, compiled once, for any number of keys (SQLAlchemy's insertmanyvalues)."""


@dataclass
class _Entry:
    """A key this batch bound: to which message, with which payload, and its result."""

    message_id: str
    message_type: str
    payload_hash: str
    result: dict[str, Any] | None = None


class BatchInbox:
    """The inbox for a batch of messages handled in one transaction.

    ``claim_all`` inserts every new key of the batch in one statement; then each
    message, in order, asks ``claim``, which answers from what the batch did so far
    (a key seen twice in one batch gets ``Duplicate`` or ``KeyReused`` exactly as if
    the first had been committed alone) and asks the table only for keys older than
    the batch. Results are kept and written in one statement by ``flush``, before the
    transaction commits. Same answers as :func:`claim`, far fewer round trips.
    """

    def __init__(self, consumer: str) -> None:
        self.consumer = consumer
        self._fresh: set[str] = set()
        self._bound: dict[str, _Entry] = {}
        self._changed: set[str] = set()

    async def claim_all(
        self, session: AsyncSession, messages: list[tuple[RawEnvelope, str]]
    ) -> None:
        """Insert each key of (envelope, fingerprint) once; remember which were new."""
        rows: dict[str, dict[str, Any]] = {}
        for envelope, fingerprint in messages:
            rows.setdefault(
                envelope.idempotency_key,
                {
                    "consumer": self.consumer,
                    "idempotency_key": envelope.idempotency_key,
                    "message_id": envelope.message_id,
                    "message_type": envelope.type,
                    "payload_hash": fingerprint,
                },
            )
        if not rows:
            return
        inserted = await session.execute(_CLAIM_MANY, list(rows.values()))
        self._fresh = set(inserted.scalars())

    async def claim(
        self, session: AsyncSession, envelope: RawEnvelope, fingerprint: str
    ) -> ClaimOutcome:
        key = envelope.idempotency_key
        if key in self._fresh:
            self._fresh.discard(key)
            self._bound[key] = _Entry(str(envelope.message_id), envelope.type, fingerprint)
            return Claimed()
        entry = self._bound.get(key)
        if entry is None:
            return await claim(session, self.consumer, envelope, fingerprint)
        if entry.payload_hash == fingerprint:
            return Duplicate(first_message_id=entry.message_id, first_result=entry.result)
        return KeyReused(first_message_id=entry.message_id, first_type=entry.message_type)

    async def reclaim(self, session: AsyncSession, envelope: RawEnvelope, fingerprint: str) -> None:
        """Bind the key to a new message (a retry after a retryable rejection)."""
        key = envelope.idempotency_key
        self._bound[key] = _Entry(str(envelope.message_id), envelope.type, fingerprint)
        self._changed.add(key)

    async def record_result(
        self, session: AsyncSession, idempotency_key: str, result: dict[str, Any]
    ) -> None:
        self._bound[idempotency_key].result = result
        self._changed.add(idempotency_key)

    async def flush(self, session: AsyncSession) -> None:
        """Write the message ids and results the batch bound, in one statement."""
        if not self._changed:
            return
        await session.execute(
            update(inbox)
            .where(inbox.c.consumer == self.consumer)
            .where(inbox.c.idempotency_key == bindparam("key"))
            .values(message_id=bindparam("bound_id"), result=bindparam("bound_result")),
            [
                {
                    "key": key,
                    "bound_id": uuid.UUID(self._bound[key].message_id),
                    "bound_result": self._bound[key].result,
                }
                for key in sorted(self._changed)
            ],
        )
        self._changed.clear()


class Immediate:
    """The inbox one message at a time: each call is a statement at once."""

    def __init__(self, consumer: str) -> None:
        self.consumer = consumer

    async def claim(
        self, session: AsyncSession, envelope: RawEnvelope, fingerprint: str
    ) -> ClaimOutcome:
        return await claim(session, self.consumer, envelope, fingerprint)

    async def reclaim(self, session: AsyncSession, envelope: RawEnvelope, fingerprint: str) -> None:
        await reclaim(session, self.consumer, envelope.idempotency_key, envelope)

    async def record_result(
        self, session: AsyncSession, idempotency_key: str, result: dict[str, Any]
    ) -> None:
        await record_result(session, self.consumer, idempotency_key, result)


class Claims(Protocol):
    """What the command processor needs of an inbox: :class:`Immediate` or :class:`BatchInbox`."""

    async def claim(
        self, session: AsyncSession, envelope: RawEnvelope, fingerprint: str
    ) -> ClaimOutcome: ...

    async def reclaim(
        self, session: AsyncSession, envelope: RawEnvelope, fingerprint: str
    ) -> None: ...

    async def record_result(
        self, session: AsyncSession, idempotency_key: str, result: dict[str, Any]
    ) -> None: ...
