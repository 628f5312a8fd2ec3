"""Finding a store credit by its code, and the lock-out of repeated wrong codes.

Shared by ``FindStoreCredit`` (a question) and ``AuthorizeStoreCredit`` (the
order service's command). A code is looked up by its keyed hashes (current and
retired keys), then compared timing-safely; one found under a retired key is
hashed again under the current one. Wrong codes count against subjects (a
customer, an order) in ``code_attempts``; after too many they are locked out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.store_credit import codes, db
from shared.runtime.commands import HandlerContext

LOCKOUT = codes.LockoutPolicy()


def hasher(context: HandlerContext) -> codes.CodeHasher:
    settings = context.settings
    return codes.CodeHasher(settings.code_hash_key_bytes(), settings.code_hash_previous_key_bytes())


async def by_code(session: AsyncSession, context: HandlerContext, code: str) -> Any | None:
    """The store credit of ``code`` (None for a malformed or unknown one)."""
    code_hasher = hasher(context)
    try:
        hashes = code_hasher.hashes(code)
    except codes.InvalidCode:
        return None
    row = await db.find_store_credit(session, db.store_credits.c.code_hash.in_(hashes))
    if row is None or not code_hasher.matches(code, row.code_hash):
        return None
    if row.code_hash != hashes[0]:  # found under a retired key: move it to the current
        await db.rehash_code(session, row.id, hashes[0])
    return row


def _state(row: Any) -> codes.AttemptState:
    return codes.AttemptState(
        failures=row.failures,
        window_started_at=row.window_started_at,
        locked_until=row.locked_until,
    )


@dataclass(frozen=True)
class Attempts:
    """The wrong-code counts of some subjects, locked for this transaction."""

    states: dict[str, codes.AttemptState]
    now: datetime

    @classmethod
    async def lock(cls, session: AsyncSession, subjects: list[str], now: datetime) -> Attempts:
        rows = {subject: await db.lock_attempts(session, subject) for subject in subjects}
        return cls({subject: _state(row) for subject, row in rows.items()}, now)

    @property
    def locked(self) -> bool:
        return any(codes.is_locked(state, self.now) for state in self.states.values())

    async def count_miss(self, session: AsyncSession) -> None:
        """One more wrong code for every subject (their rows are made again if a
        rejection rolled their first insert back)."""
        for subject, state in self.states.items():
            after = codes.after_failure(LOCKOUT, state, self.now)
            await db.lock_attempts(session, subject)
            await db.save_attempts(
                session, subject, after.failures, after.window_started_at, after.locked_until
            )

    async def reset(self, session: AsyncSession) -> None:
        for subject in self.states:
            await db.save_attempts(session, subject, 0, None, None)
