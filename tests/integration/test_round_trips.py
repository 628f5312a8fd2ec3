"""The services count their exchanges with the database (the benchmark reports them per
checkout): one per statement, one for the BEGIN, one for the COMMIT."""

from __future__ import annotations

from sqlalchemy import text

from shared.runtime.db import count_round_trips, create_engine, create_session_factory
from shared.runtime.settings import Settings


async def test_each_statement_and_the_transaction_s_ends_are_counted(settings: Settings) -> None:
    engine = create_engine(settings.database_url_for("ledger"))
    counted: list[int] = []
    count_round_trips(engine, lambda: counted.append(1))
    sessions = create_session_factory(engine)
    try:
        async with sessions() as session, session.begin():  # BEGIN, sent with the first
            await session.execute(text("SELECT 1"))
            async with session.begin_nested():  # SAVEPOINT, RELEASE: statements too
                await session.execute(text("SELECT 2"))
            await session.execute(text("SELECT :x"), [{"x": "a"}, {"x": "b"}])  # pipelined
        assert len(counted) == 7  # ... and COMMIT
        async with sessions() as session:
            await session.execute(text("SELECT 3"))
        assert len(counted) == 7 + 3  # BEGIN, the statement, the ROLLBACK that closes it
    finally:
        await engine.dispose()


async def test_an_autocommit_connection_counts_its_statements_only(settings: Settings) -> None:
    """There is no transaction to begin or end: SQLAlchemy's events are bookkeeping."""
    engine = create_engine(settings.database_url_for("ledger"))
    counted: list[int] = []
    count_round_trips(engine, lambda: counted.append(1))
    try:
        connection = await engine.connect()
        connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("SELECT 1"))
        await connection.execute(text("SELECT 2"))
        await connection.close()
        assert len(counted) == 2
    finally:
        await engine.dispose()
