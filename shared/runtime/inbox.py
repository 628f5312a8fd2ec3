"""The inbox: an idempotency key is recorded in the same transaction as its effect.

``claim`` inserts the key first. A concurrent claim of the same key waits on
the primary key until the first transaction ends, then sees its row, so two
consumers can never both apply one key.

A command's key is scoped to its actor (``scope``, ``customer:cust-1``): one
customer's key never meets another's, so it can neither collide with nor reveal
it. Events are deduplicated by message id, with no scope.

A key whose first answer was a retryable rejection may be bound to a new message
(``reclaim``) only by compare-and-set on the message it is bound to now: of
concurrent retries exactly one is handled afresh, and the others get its answer.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import RawEnvelope
from shared.runtime.messaging_tables import inbox


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

_KEY = ["consumer", "scope", "idempotency_key"]


def actor_scope(envelope: RawEnvelope) -> str:
    """Whose key it is: ``<actor kind>:<actor id>``."""
    return f"{envelope.actor.kind.value}:{envelope.actor.id}"


def _row(consumer: str, scope: str, key: str) -> Any:
    return (
        (inbox.c.consumer == consumer) & (inbox.c.scope == scope) & (inbox.c.idempotency_key == key)
    )


async def _outcome(
    session: AsyncSession, consumer: str, scope: str, key: str, fingerprint: str
) -> Duplicate | KeyReused:
    """What a key already bound answers (read as committed now)."""
    row = (
        await session.execute(
            select(
                inbox.c.message_id, inbox.c.message_type, inbox.c.payload_hash, inbox.c.result
            ).where(_row(consumer, scope, key))
        )
    ).one()
    if row.payload_hash == fingerprint:
        return Duplicate(first_message_id=str(row.message_id), first_result=row.result)
    return KeyReused(first_message_id=str(row.message_id), first_type=row.message_type)


async def claim(
    session: AsyncSession,
    consumer: str,
    envelope: RawEnvelope,
    fingerprint: str,
    *,
    key: str | None = None,
    scope: str = "",
) -> ClaimOutcome:
    """Record ``key`` (default: the envelope's idempotency key) in ``scope`` for ``consumer``."""
    key = key or envelope.idempotency_key
    inserted = await session.execute(
        insert(inbox)
        .values(
            consumer=consumer,
            scope=scope,
            idempotency_key=key,
            message_id=envelope.message_id,
            message_type=envelope.type,
            payload_hash=fingerprint,
        )
        .on_conflict_do_nothing(index_elements=_KEY)
        .returning(inbox.c.consumer)
    )
    if inserted.first() is not None:
        return Claimed()
    return await _outcome(session, consumer, scope, key, fingerprint)


_RETRYABLE = inbox.c.result["retryable"].as_boolean().is_(True)


async def reclaim(
    session: AsyncSession,
    consumer: str,
    envelope: RawEnvelope,
    fingerprint: str,
    first_message_id: str,
) -> ClaimOutcome:
    """Bind the key to a new message (a retry after a retryable rejection), if it is
    still bound to ``first_message_id`` with that rejection: compare-and-set.

    A concurrent retry that bound it first holds the row until it commits; this
    update then finds the row changed and binds nothing, and the key answers as
    that retry left it (``Duplicate``).
    """
    scope, key = actor_scope(envelope), envelope.idempotency_key
    bound = await session.execute(
        update(inbox)
        .where(_row(consumer, scope, key))
        .where(inbox.c.message_id == uuid.UUID(first_message_id))
        .where(_RETRYABLE)
        .values(message_id=envelope.message_id, result=None)
        .returning(inbox.c.consumer)
    )
    if bound.first() is not None:
        return Claimed()
    return await _outcome(session, consumer, scope, key, fingerprint)


async def record_result(
    session: AsyncSession, consumer: str, scope: str, idempotency_key: str, result: dict[str, Any]
) -> None:
    await session.execute(
        update(inbox).where(_row(consumer, scope, idempotency_key)).values(result=result)
    )


_CLAIM_MANY = (
    insert(inbox)
    .on_conflict_do_nothing(index_elements=_KEY)
    .returning(inbox.c.scope, inbox.c.idempotency_key)
)
"""One statement, compiled once, for any number of keys (SQLAlchemy's insertmanyvalues)."""


@dataclass
class _Entry:
    """A key this batch bound: to which message, with which payload, and its result."""

    message_id: str
    message_type: str
    payload_hash: str
    result: dict[str, Any] | None = None


Scoped = tuple[str, str]
"""(scope, idempotency key)"""


class BatchInbox:
    """The inbox of commands for a batch handled in one transaction.

    ``claim_all`` inserts every new key of the batch in one statement; then each
    message, in order, asks ``claim``, which answers from what the batch did so far
    (a key seen twice in one batch gets ``Duplicate`` or ``KeyReused`` exactly as if
    the first had been committed alone) and asks the table only for keys older than
    the batch. Results are kept and written in one statement by ``flush``, before the
    transaction commits. Same answers as :func:`claim`, far fewer round trips.
    """

    def __init__(self, consumer: str) -> None:
        self.consumer = consumer
        self._fresh: set[Scoped] = set()
        self._bound: dict[Scoped, _Entry] = {}
        self._changed: set[Scoped] = set()

    async def claim_all(
        self, session: AsyncSession, messages: list[tuple[RawEnvelope, str]]
    ) -> None:
        """Insert each key of (envelope, fingerprint) once; remember which were new."""
        rows: dict[Scoped, dict[str, Any]] = {}
        for envelope, fingerprint in messages:
            scope = actor_scope(envelope)
            rows.setdefault(
                (scope, envelope.idempotency_key),
                {
                    "consumer": self.consumer,
                    "scope": scope,
                    "idempotency_key": envelope.idempotency_key,
                    "message_id": envelope.message_id,
                    "message_type": envelope.type,
                    "payload_hash": fingerprint,
                },
            )
        if not rows:
            return
        inserted = await session.execute(_CLAIM_MANY, list(rows.values()))
        self._fresh = {(row.scope, row.idempotency_key) for row in inserted}

    async def claim(
        self, session: AsyncSession, envelope: RawEnvelope, fingerprint: str
    ) -> ClaimOutcome:
        scoped = (actor_scope(envelope), envelope.idempotency_key)
        if scoped in self._fresh:
            self._fresh.discard(scoped)
            self._bound[scoped] = _Entry(str(envelope.message_id), envelope.type, fingerprint)
            return Claimed()
        entry = self._bound.get(scoped)
        if entry is None:
            return await claim(session, self.consumer, envelope, fingerprint, scope=scoped[0])
        if entry.payload_hash == fingerprint:
            return Duplicate(first_message_id=entry.message_id, first_result=entry.result)
        return KeyReused(first_message_id=entry.message_id, first_type=entry.message_type)

    async def reclaim(
        self, session: AsyncSession, envelope: RawEnvelope, fingerprint: str, first_message_id: str
    ) -> ClaimOutcome:
        """Bind the key to a new message (a retry after a retryable rejection): in memory
        if this batch bound it (no one else can have), else by compare-and-set at once."""
        scoped = (actor_scope(envelope), envelope.idempotency_key)
        if scoped not in self._bound:
            outcome = await reclaim(session, self.consumer, envelope, fingerprint, first_message_id)
            if not isinstance(outcome, Claimed):
                return outcome
        self._bound[scoped] = _Entry(str(envelope.message_id), envelope.type, fingerprint)
        self._changed.add(scoped)
        return Claimed()

    async def record_result(
        self, session: AsyncSession, envelope: RawEnvelope, result: dict[str, Any]
    ) -> None:
        scoped = (actor_scope(envelope), envelope.idempotency_key)
        self._bound[scoped].result = result
        self._changed.add(scoped)

    @property
    def bound_unwritten(self) -> bool:
        """Whether the batch bound message ids or results not written yet."""
        return bool(self._changed)

    def take_bound(self) -> list[dict[str, Any]]:
        """The message ids and results the batch bound and has not written (as the
        parameters of :data:`_WRITE_BOUND`), forgotten as written: the caller writes them."""
        bound = [
            {
                "bound_scope": scope,
                "key": key,
                "bound_id": uuid.UUID(self._bound[(scope, key)].message_id),
                "bound_result": self._bound[(scope, key)].result,
            }
            for scope, key in sorted(self._changed)
        ]
        self._changed.clear()
        return bound

    async def flush(self, session: AsyncSession) -> None:
        """Write the message ids and results the batch bound, in one statement."""
        bound = self.take_bound()
        if bound:
            await session.execute(_WRITE_BOUND.where(inbox.c.consumer == self.consumer), bound)


_WRITE_BOUND = (
    update(inbox)
    .where(inbox.c.scope == bindparam("bound_scope"))
    .where(inbox.c.idempotency_key == bindparam("key"))
    .values(message_id=bindparam("bound_id"), result=bindparam("bound_result"))
)


class Immediate:
    """The inbox of commands one message at a time: each call is a statement at once."""

    def __init__(self, consumer: str) -> None:
        self.consumer = consumer

    async def claim(
        self, session: AsyncSession, envelope: RawEnvelope, fingerprint: str
    ) -> ClaimOutcome:
        return await claim(
            session, self.consumer, envelope, fingerprint, scope=actor_scope(envelope)
        )

    async def reclaim(
        self, session: AsyncSession, envelope: RawEnvelope, fingerprint: str, first_message_id: str
    ) -> ClaimOutcome:
        return await reclaim(session, self.consumer, envelope, fingerprint, first_message_id)

    async def record_result(
        self, session: AsyncSession, envelope: RawEnvelope, result: dict[str, Any]
    ) -> None:
        await record_result(
            session, self.consumer, actor_scope(envelope), envelope.idempotency_key, result
        )


class Claims(Protocol):
    """What the command processor needs of an inbox: :class:`Immediate` or :class:`BatchInbox`."""

    async def claim(
        self, session: AsyncSession, envelope: RawEnvelope, fingerprint: str
    ) -> ClaimOutcome: ...

    async def reclaim(
        self, session: AsyncSession, envelope: RawEnvelope, fingerprint: str, first_message_id: str
    ) -> ClaimOutcome: ...

    async def record_result(
        self, session: AsyncSession, envelope: RawEnvelope, result: dict[str, Any]
    ) -> None: ...
