"""PostgreSQL's raw insert rates, in a scratch database, on rows shaped like ledger postings.

Batched: 500 rows per statement (SQLAlchemy Core's multi-row INSERT through asyncpg),
one transaction per batch: the ceiling of a consumer that handles a batch of messages
per transaction. COPY: the same rows, 500 per transaction, by asyncpg's binary
``COPY``, PostgreSQL's fastest way in (what ``shared.tools.bench.io_floor`` writes with).
One row per transaction: the ceiling of one message per transaction, which is what
every commit's WAL flush costs on this disk.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Index, MetaData, Table, Text, func, insert
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.runtime.provision.databases import asyncpg, asyncpg_dsn
from shared.tools.bench.report import Figure

BATCH_ROWS = 500

metadata = MetaData()

# services/ledger/db.py's postings, without its foreign keys (no accounts or
# transactions exist here): same columns, same indexes, same identity key.
scratch_postings = Table(
    "scratch_postings",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("transaction_id", Text, nullable=False),
    Column("account_id", Text, nullable=False),
    Column("unit", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("scratch_postings_account", "account_id"),
    Index("scratch_postings_transaction", "transaction_id"),
)


def posting_rows(tag: str, start: int, count: int) -> list[dict[str, Any]]:
    """Two legs per transaction (customer and system account), as a deposit writes them."""
    rows: list[dict[str, Any]] = []
    for number in range(start, start + count):
        transaction = f"{tag}-tx-{number // 2:07d}"
        leg = number % 2
        rows.append(
            {
                "transaction_id": transaction,
                "account_id": f"{tag}-acct-{number % 1000:05d}" if leg == 0 else "system:issued",
                "unit": "points:loyalty",
                "amount": 100 if leg == 0 else -100,
            }
        )
    return rows


async def _batched(engine: AsyncEngine, tag: str, rows: int) -> float:
    started = time.perf_counter()
    for start in range(0, rows, BATCH_ROWS):
        batch = posting_rows(tag, start, min(BATCH_ROWS, rows - start))
        async with engine.begin() as connection:
            await connection.execute(insert(scratch_postings), batch)
    return time.perf_counter() - started


async def _copied(url: str, tag: str, rows: int) -> float:
    dsn = asyncpg_dsn(url)
    columns = ["transaction_id", "account_id", "unit", "amount"]
    connection = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        for start in range(0, rows, BATCH_ROWS):
            batch = posting_rows(tag, start, min(BATCH_ROWS, rows - start))
            records = [tuple(row[c] for c in columns) for row in batch]
            async with connection.transaction():
                await connection.copy_records_to_table(
                    scratch_postings.name, records=records, columns=columns
                )
        return time.perf_counter() - started
    finally:
        await connection.close()


async def _one_per_transaction(engine: AsyncEngine, tag: str, rows: int) -> float:
    statement = insert(scratch_postings)
    async with engine.connect() as connection:
        started = time.perf_counter()
        for row in posting_rows(tag, 0, rows):
            async with connection.begin():
                await connection.execute(statement, row)
        return time.perf_counter() - started


async def measure(url: str, tag: str, rows: int, single_rows: int, durability: str) -> list[Figure]:
    engine = create_async_engine(url, pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
        batched = await _batched(engine, f"{tag}-b", rows)
        copied = await _copied(url, f"{tag}-c", rows)
        single = await _one_per_transaction(engine, f"{tag}-s", single_rows)
    finally:
        await engine.dispose()
    return [
        Figure(
            "postgres insert, 500 rows/tx",
            rows / batched,
            "rows/s",
            f"{rows:,} posting rows, multi-row INSERT, {durability}",
        ),
        Figure(
            "postgres COPY, 500 rows/tx",
            rows / copied,
            "rows/s",
            f"{rows:,} posting rows, binary COPY (asyncpg)",
        ),
        Figure(
            "postgres insert, 1 row/tx",
            single_rows / single,
            "rows/s",
            f"{single_rows:,} rows, a commit each",
        ),
    ]
