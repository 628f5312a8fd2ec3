"""Bounded storage: every service deletes what its inbox and outbox no longer need.

- An idempotency key (an inbox row, with the first result it remembers) is kept for
  ``STORECREDIT_IDEMPOTENCY_WINDOW_S`` after it was first received. Within the window a
  client's retry gets the first result again and a redelivery is ignored. After it the
  key is forgotten, which is safe because the window is longer than the oldest actor
  claim accepted (``Settings`` refuses a shorter one): the same record redelivered
  then is refused ``unauthenticated`` for its claim's age, before its key is looked
  at. A client's retry with a fresh claim after the window is a new command, and a
  command that names the id of what it makes is refused by that id
  (``transaction_exists``, for one).
- A published outbox row is kept for ``STORECREDIT_OUTBOX_RETENTION_S`` after it was
  written (600 s: to look at what was just sent); an unpublished row is never deleted.

The sweep deletes at most ``PRUNE_BATCH`` rows of each table per transaction and runs
again at once while it finds some, so a backlog drains without one long transaction.
Both tables have a BRIN index on their time column (rows arrive in time order), so
finding the old rows reads only their blocks and costs next to nothing per insert.
Several instances may sweep at once: a row two of them delete is deleted once.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.runtime.jobs import JobContext, PeriodicJob

PRUNE_BATCH = 5_000

_FORGET_KEYS = text(
    "DELETE FROM inbox WHERE ctid = ANY(ARRAY("
    "SELECT ctid FROM inbox WHERE received_at < now() - CAST(:kept AS interval) LIMIT :limit))"
)
_DELETE_PUBLISHED = text(
    "DELETE FROM outbox WHERE ctid = ANY(ARRAY("
    "SELECT ctid FROM outbox WHERE created_at < now() - CAST(:kept AS interval) "
    "AND published_at IS NOT NULL LIMIT :limit))"
)


async def forget_keys(session: AsyncSession, kept: timedelta, limit: int = PRUNE_BATCH) -> int:
    """Delete up to ``limit`` idempotency keys first received longer ago than ``kept``."""
    result = await session.execute(_FORGET_KEYS, {"kept": kept, "limit": limit})
    return int(getattr(result, "rowcount", 0) or 0)


async def delete_published(session: AsyncSession, kept: timedelta, limit: int = PRUNE_BATCH) -> int:
    """Delete up to ``limit`` published outbox rows written longer ago than ``kept``."""
    result = await session.execute(_DELETE_PUBLISHED, {"kept": kept, "limit": limit})
    return int(getattr(result, "rowcount", 0) or 0)


async def _prune(context: JobContext) -> int:
    settings = context.settings
    async with context.sessions() as session, session.begin():
        keys = await forget_keys(session, timedelta(seconds=settings.idempotency_window_s))
        rows = await delete_published(session, timedelta(seconds=settings.outbox_retention_s))
    return keys + rows


retention = PeriodicJob(
    name="retention",
    interval=lambda settings: settings.retention_sweep_ms / 1000,
    run=_prune,
    sends=False,
)
"""The job every service runs (``shared.runtime.service`` adds it to a service's own)."""
