"""Async SQLAlchemy engine and sessions, one database per service."""

from __future__ import annotations

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
