"""Async SQLAlchemy engine and sessions, one database per service."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Connection, event
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


@asynccontextmanager
async def statement_by_statement(sessions: SessionFactory) -> AsyncIterator[AsyncSession]:
    """A session whose statements each commit by themselves (its connection in
    AUTOCOMMIT): no BEGIN before them and no COMMIT after, so a single statement is one
    round trip instead of three. Nothing it does can be undone: only for writes that
    are each whole by themselves. The connection goes back to the pool at its default
    isolation level (SQLAlchemy resets it on release)."""
    async with sessions() as session:
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session


TRANSACTION_EVENTS = ("begin", "commit", "rollback")
"""The ends of a transaction: a round trip each (the BEGIN asyncpg sends before the first
statement, then the COMMIT or ROLLBACK), except on an AUTOCOMMIT connection, where
there is no transaction and SQLAlchemy's events are only bookkeeping."""


def count_round_trips(engine: AsyncEngine, count: Callable[[], None]) -> None:
    """Call ``count`` at each exchange with the database: each statement (savepoints are
    statements too; asyncpg pipelines an executemany's rows, so one
    ``before_cursor_execute`` is one exchange) and each end of a transaction."""

    def statement(*_: Any, **__: Any) -> None:
        count()

    def transaction_end(connection: Connection, *_: Any) -> None:
        if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            count()

    event.listen(engine.sync_engine, "before_cursor_execute", statement)
    for name in TRANSACTION_EVENTS:
        event.listen(engine.sync_engine, name, transaction_end)
