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
