"""A deposit's I/O alone: the ceiling of any ledger on this machine that keeps the
brief's guarantees, whatever its code.

Each deposit needs, at least: its command read from Kafka; in one PostgreSQL
transaction with the effect, its inbox key, its point transaction, two postings, the
account's new balance and three outbox rows (result, ``PointTransactionCreated``,
``BalanceChanged``); then those three records written to Kafka by an idempotent
producer with ``acks=all`` and the outbox rows marked published; and the offsets
committed. This does exactly that and nothing else: no validation, no domain rules,
no envelopes, rows written with ``COPY`` (PostgreSQL's fastest way in) and balances
with one ``UPDATE`` per poll, the relay running beside the consumer on its own
connection, as the ledger's does.

It reads the deposits ``shared.tools.bench.kafka_limits`` wrote to the raw topic, so it
costs no set-up. The rate runs from the first poll to the last record published.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from contracts.topics import TopicSpec
from shared.runtime.provision.databases import asyncpg, asyncpg_dsn
from shared.tools.bench.report import Figure
from shared.tools.bench.servers import Scratch, Servers, create_database, database_url
from shared.tools.stack import ensure_topics

POLL_RECORDS = 500
RELAY_ROWS = 1_500
RECORDS_PER_DEPOSIT = 3
IDLE_S = 0.005
STALL_S = 60.0

_TABLES = """
CREATE TABLE floor_inbox (idempotency_key text PRIMARY KEY, result jsonb NOT NULL);
CREATE TABLE floor_transactions (
    id text PRIMARY KEY, account_id text NOT NULL, amount bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE floor_postings (
    id bigserial PRIMARY KEY, transaction_id text NOT NULL, account_id text NOT NULL,
    amount bigint NOT NULL
);
CREATE INDEX floor_postings_account ON floor_postings (account_id);
CREATE INDEX floor_postings_transaction ON floor_postings (transaction_id);
CREATE TABLE floor_accounts (id text PRIMARY KEY, balance bigint NOT NULL DEFAULT 0);
CREATE TABLE floor_outbox (
    id bigserial PRIMARY KEY, topic text NOT NULL, key text NOT NULL, value bytea NOT NULL,
    published_at timestamptz
);
"""
_ACCEPTED = '{"status": "accepted"}'
_BALANCES = """
INSERT INTO floor_accounts AS a (id, balance)
SELECT * FROM unnest($1::text[], $2::bigint[])
ON CONFLICT (id) DO UPDATE SET balance = a.balance + excluded.balance
"""
_UNPUBLISHED = (
    "SELECT id, topic, key, value FROM floor_outbox WHERE published_at IS NULL ORDER BY id LIMIT $1"
)
_MARK = "UPDATE floor_outbox SET published_at = now() WHERE id = ANY($1::bigint[])"


@dataclass
class _Rows:
    """One poll's rows, table by table."""

    inbox: list[tuple[str, str]] = field(default_factory=list)
    transactions: list[tuple[str, str, int]] = field(default_factory=list)
    postings: list[tuple[str, str, int]] = field(default_factory=list)
    balances: dict[str, int] = field(default_factory=dict)
    outbox: list[tuple[str, str, bytes]] = field(default_factory=list)


def rows_for(records: Sequence[ConsumerRecord[bytes, bytes]], out_topic: str) -> _Rows:
    rows = _Rows()
    for record in records:
        envelope = json.loads(record.value or b"{}")
        payload = envelope["payload"]
        account, transaction, amount = (
            payload["account_id"],
            payload["transaction_id"],
            int(payload["amount"]),
        )
        rows.inbox.append((envelope["message_id"], _ACCEPTED))
        rows.transactions.append((transaction, account, amount))
        rows.postings += [(transaction, account, amount), (transaction, "system", -amount)]
        rows.balances[account] = rows.balances.get(account, 0) + amount
        rows.outbox += [(out_topic, account, record.value or b"")] * RECORDS_PER_DEPOSIT
    return rows


async def _write(db: Any, rows: _Rows) -> None:
    async with db.transaction():
        await db.copy_records_to_table(
            "floor_inbox", records=rows.inbox, columns=["idempotency_key", "result"]
        )
        await db.copy_records_to_table(
            "floor_transactions", records=rows.transactions, columns=["id", "account_id", "amount"]
        )
        await db.copy_records_to_table(
            "floor_postings",
            records=rows.postings,
            columns=["transaction_id", "account_id", "amount"],
        )
        await db.execute(_BALANCES, list(rows.balances), list(rows.balances.values()))
        await db.copy_records_to_table(
            "floor_outbox", records=rows.outbox, columns=["topic", "key", "value"]
        )


async def _relay(db: Any, producer: AIOKafkaProducer, total: int) -> None:
    published = 0
    last_progress = time.perf_counter()
    while published < total:
        async with db.transaction():
            rows = await db.fetch(_UNPUBLISHED, RELAY_ROWS)
            if rows:
                sent = [
                    await producer.send(r["topic"], r["value"], key=r["key"].encode()) for r in rows
                ]
                await asyncio.gather(*sent)
                await db.execute(_MARK, [r["id"] for r in rows])
        if rows:
            published += len(rows)
            last_progress = time.perf_counter()
        elif time.perf_counter() - last_progress > STALL_S:
            raise TimeoutError(f"floor relay: {published:,} of {total:,} records, then nothing")
        else:
            await asyncio.sleep(IDLE_S)


async def _consume(consumer: AIOKafkaConsumer, db: Any, out: str, n: int) -> None:
    handled = 0
    last_progress = time.perf_counter()
    while handled < n:
        polled = await consumer.getmany(timeout_ms=100, max_records=POLL_RECORDS)
        records = [r for batch in polled.values() for r in batch]
        if not records:
            if time.perf_counter() - last_progress > STALL_S:
                raise TimeoutError(f"floor consumer: {handled:,} of {n:,} deposits, then nothing")
            continue
        await _write(db, rows_for(records, out))
        await consumer.commit()
        handled += len(records)
        last_progress = time.perf_counter()


def _create_topic(servers: Servers, scratch: Scratch, partitions: int) -> str:
    spec = TopicSpec("floor-out", partitions=partitions, key="account id", description="floor")
    scratch.topics.append(f"{scratch.topic_prefix}{spec.name}")
    ensure_topics(servers.bootstrap_servers, [spec], prefix=scratch.topic_prefix, **servers.kafka)
    return scratch.topics[-1]


async def measure(
    servers: Servers, scratch: Scratch, source_topic: str, deposits: int, partitions: int
) -> Figure:
    """The first ``deposits`` on ``source_topic`` (all its partitions) through the I/O
    a deposit needs, on a database and an output topic of the run's own."""
    out_topic = await asyncio.to_thread(_create_topic, servers, scratch, partitions)
    database = scratch.database("floor")
    await create_database(servers, database)
    dsn = asyncpg_dsn(database_url(servers, database))
    writer: Any = await asyncpg.connect(dsn)
    relay_db: Any = await asyncpg.connect(dsn)
    consumer = AIOKafkaConsumer(
        source_topic,
        bootstrap_servers=servers.bootstrap_servers,
        **servers.kafka,
        group_id=f"{scratch.name}-floor",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=POLL_RECORDS,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=servers.bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        **servers.kafka,
    )
    try:
        await writer.execute(_TABLES)
        await producer.start()
        await consumer.start()
        started = time.perf_counter()
        await asyncio.gather(
            _consume(consumer, writer, out_topic, deposits),
            _relay(relay_db, producer, RECORDS_PER_DEPOSIT * deposits),
        )
        seconds = time.perf_counter() - started
    finally:
        await consumer.stop()
        await producer.stop()
        await writer.close()
        await relay_db.close()
    return Figure(
        "a deposit's I/O alone (floor)",
        deposits / seconds,
        "deposits/s",
        f"{deposits:,} deposits: read, 7 rows COPYed and 1 balance upserted per deposit in one "
        f"transaction per {POLL_RECORDS}-record poll, {RECORDS_PER_DEPOSIT} records relayed "
        "(idempotent, acks=all), rows marked published; no logic, no validation",
    )
