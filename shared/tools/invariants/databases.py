"""Read-only snapshots of the four services' databases.

Each database is read through one connection in a ``REPEATABLE READ READ ONLY``
transaction: every query of one look sees the same committed state of that
database, and the checker can change nothing. The transactions end before the
runner waits out the settle time, so a check never holds back vacuum for long.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from shared.runtime.settings import SERVICES, Settings

CONNECT_TIMEOUT_S = 10.0
UNREACHABLE = (OSError, SQLAlchemyError, TimeoutError)
"""What a database that cannot be read raises (refused, unknown host, no such table)."""


class CouldNotCheck(Exception):
    """A database could not be read: nothing can be said about the invariants."""

    def __init__(self, where: str, error: BaseException) -> None:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        super().__init__(f"{where}: {detail}")
        self.where = where


def open_engines(settings: Settings) -> dict[str, AsyncEngine]:
    """One small engine per service database (nothing connects until a snapshot)."""
    return {
        service: create_async_engine(
            settings.database_url_for(service),
            pool_size=1,
            max_overflow=0,
            connect_args={"timeout": CONNECT_TIMEOUT_S},
        )
        for service in SERVICES
    }


async def dispose(engines: Mapping[str, AsyncEngine]) -> None:
    for engine in engines.values():
        await engine.dispose()


@asynccontextmanager
async def snapshot(service: str, engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection whose every query sees one state of ``service``'s database."""
    try:
        connection = await engine.connect()
    except UNREACHABLE as error:
        raise CouldNotCheck(f"the {service} database", error) from error
    try:
        connection = await connection.execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        )
        async with connection.begin():
            await connection.execute(text("SELECT 1"))  # the snapshot is taken here
            yield connection
    finally:
        await connection.close()


@asynccontextmanager
async def snapshots(
    engines: Mapping[str, AsyncEngine],
) -> AsyncIterator[dict[str, AsyncConnection]]:
    """A snapshot of every service's database, taken one right after the other."""
    async with AsyncExitStack() as stack:
        yield {
            service: await stack.enter_async_context(snapshot(service, engine))
            for service, engine in engines.items()
        }
