"""Async SQLAlchemy engine and sessions, one database per service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

SessionFactory = async_sessionmaker[AsyncSession]


def create_engine(url: str, *, pool_size: int = 5) -> AsyncEngine:
    """No ping before each use of a pooled connection: it was a round trip per
    transaction (a fifth of those a small batch makes). A connection the database
    dropped (a restart) fails its first statement instead; SQLAlchemy then discards
    the whole pool, and the consumer retries the message as for any transient fault."""
    return create_async_engine(url, pool_size=pool_size, max_overflow=5)


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False)


ROUND_TRIP_EVENTS = ("before_cursor_execute", "begin", "commit", "rollback")
"""What the engine does that waits for the database once each: a statement (savepoints
are statements too; asyncpg pipelines an executemany's rows, so one
``before_cursor_execute`` is one exchange), the BEGIN asyncpg sends before the first,
and the end of the transaction."""


def count_round_trips(engine: AsyncEngine, count: Callable[[], None]) -> None:
    """Call ``count`` at each exchange with the database (``ROUND_TRIP_EVENTS``)."""

    def counted(*_: Any, **__: Any) -> None:
        count()

    for name in ROUND_TRIP_EVENTS:
        event.listen(engine.sync_engine, name, counted)
