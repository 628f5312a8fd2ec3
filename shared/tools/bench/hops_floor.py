"""A checkout's three hops alone: the latency any system keeping the brief's
guarantees could at best have on this machine, whatever its code.

The benchmark's checkout crosses three services (order, fulfillment, the ledger)
before its ``BalanceChanged`` (its cart is paid externally, so nothing is bound to it
first: ``shared.tools.bench.carts``), so the floor has three hops, measured at every
rate the checkouts are offered at. Here three processes stand for them, each doing
only what every hop must: read a poll from its input topic (in a consumer group); in
one PostgreSQL transaction, claim each message's inbox key, write one effect row and
one outbox row per message; commit, then relay the outbox in its own transaction (an
advisory transaction lock, the oldest unpublished rows, sent by an idempotent
``acks=all`` producer, marked published) and commit the offsets. No validation, no
envelopes, no domain rules: raw aiokafka and asyncpg, each statement one round trip
for a whole poll.

Messages are sent open-loop at the offered rate, timed from the send to their arrival
on the last topic, exactly as ``shared.tools.bench.latency`` times checkouts (same
schedule, same percentiles, same ``Arrivals``), after an untimed warm-up. A hop process is
``python -m shared.tools.bench.hops_floor IN OUT DSN GROUP``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from contracts.topics import TopicSpec
from shared.runtime.broker import kafka_client_options
from shared.runtime.provision.databases import asyncpg, asyncpg_dsn
from shared.runtime.settings import Settings
from shared.tools.bench.arrivals import Arrivals
from shared.tools.bench.latency_points import (
    LOST_AFTER_S,
    TARGET_P99_MS,
    LatencyPoint,
    send_offsets,
    summarize,
)
from shared.tools.bench.report import Figure
from shared.tools.bench.servers import Scratch, Servers, create_database, database_url
from shared.tools.stack import ensure_topics

HOPS = 3
PARTITIONS = 6
POLL_RECORDS = 500
READY_WITHIN_S = 60.0
WARM_UP_S = 2.0
PAD = "x" * 450
"""Values about the size of a checkout's envelopes."""

_TABLES = """
CREATE TABLE IF NOT EXISTS hop_inbox (idempotency_key text PRIMARY KEY);
CREATE TABLE IF NOT EXISTS hop_effects (
    id text PRIMARY KEY, done_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS hop_outbox (
    id bigserial PRIMARY KEY, topic text NOT NULL, key bytea, value bytea NOT NULL,
    published_at timestamptz
);
CREATE INDEX IF NOT EXISTS hop_outbox_unpublished ON hop_outbox (id) WHERE published_at IS NULL;
"""
_CLAIM = "INSERT INTO hop_inbox (idempotency_key) VALUES ($1) ON CONFLICT DO NOTHING"
_EFFECT = "INSERT INTO hop_effects (id) VALUES ($1) ON CONFLICT DO NOTHING"
_OUTBOX = "INSERT INTO hop_outbox (topic, key, value) VALUES ($1, $2, $3)"
_UNPUBLISHED = """
SELECT id, topic, key, value FROM hop_outbox
WHERE published_at IS NULL AND pg_try_advisory_xact_lock(42)
ORDER BY id LIMIT 1000
"""
_MARK = "UPDATE hop_outbox SET published_at = now() WHERE id = ANY($1::bigint[])"


async def _relay(db: Any, producer: AIOKafkaProducer, wake: asyncio.Event) -> None:
    while True:
        await wake.wait()
        wake.clear()
        async with db.transaction():
            rows = await db.fetch(_UNPUBLISHED)
            if rows:
                sent = [await producer.send(r["topic"], r["value"], key=r["key"]) for r in rows]
                await asyncio.gather(*sent)
                await db.execute(_MARK, [r["id"] for r in rows])


async def hop(bootstrap_servers: str, source: str, target: str, dsn: str, group: str) -> None:
    """One hop, until killed; prints ``ready`` once it owns its input's partitions."""
    db = await asyncpg.connect(dsn)
    relay_db = await asyncpg.connect(dsn)
    await db.execute(_TABLES)
    security = kafka_client_options(Settings())  # as the parent said, in the environment
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers, acks="all", enable_idempotence=True, **security
    )
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap_servers,
        **security,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=POLL_RECORDS,
    )
    await producer.start()
    await consumer.start()
    wake = asyncio.Event()
    relay = asyncio.create_task(_relay(relay_db, producer, wake))
    announced = False
    while True:
        polled = await consumer.getmany(timeout_ms=10, max_records=POLL_RECORDS)
        if not announced and consumer.assignment():
            print("ready", flush=True)
            announced = True
        records = [r for batch in polled.values() for r in batch]
        if not records:
            continue
        ids = [(str(json.loads(r.value or b"{}")["correlation_id"]),) for r in records]
        async with db.transaction():
            await db.executemany(_CLAIM, ids)
            await db.executemany(_EFFECT, ids)
            await db.executemany(_OUTBOX, [(target, r.key, r.value) for r in records])
        wake.set()
        await consumer.commit()
        if relay.done():
            relay.result()  # its failure ends the hop


@dataclass
class _Hops:
    processes: list[subprocess.Popen[str]]

    def stop(self) -> None:
        for process in self.processes:
            process.kill()
        for process in self.processes:
            process.wait()


def _topics(servers: Servers, scratch: Scratch, run: str) -> list[str]:
    specs = [
        TopicSpec(f"hop{run}-{n}", partitions=PARTITIONS, key="order id", description="floor")
        for n in range(HOPS + 1)
    ]
    ensure_topics(servers.bootstrap_servers, specs, prefix=scratch.topic_prefix, **servers.kafka)
    names = [f"{scratch.topic_prefix}{spec.name}" for spec in specs]
    scratch.topics.extend(names)
    return names


def _spawn(servers: Servers, args: list[str]) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "shared.tools.bench.hops_floor",
        servers.bootstrap_servers,
        *args,
    ]
    environment = {**os.environ, **servers.kafka_environment}
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=environment)


async def _launch(servers: Servers, scratch: Scratch, topics: list[str], run: str) -> _Hops:
    processes = []
    for n in range(HOPS):
        database = scratch.database(f"hop{run}_{n}")
        await create_database(servers, database)
        dsn = asyncpg_dsn(database_url(servers, database))
        args = [topics[n], topics[n + 1], dsn, f"{scratch.name}-hop{run}-{n}"]
        processes.append(_spawn(servers, args))
    hops = _Hops(processes)
    try:
        for process in processes:
            assert process.stdout is not None
            line = await asyncio.wait_for(
                asyncio.to_thread(process.stdout.readline), READY_WITHIN_S
            )
            if line.strip() != "ready":
                raise RuntimeError(f"a floor hop exited before it was ready ({process.poll()})")
    except BaseException:
        hops.stop()
        raise
    return hops


def _message(number: int, tag: str) -> tuple[str, bytes]:
    correlation_id = f"{tag}-{number:07d}"
    value = {
        "type": "BalanceChanged",
        "correlation_id": correlation_id,
        "payload": {"account_id": f"{tag}-acct", "transaction_id": correlation_id},
        "pad": PAD,
    }
    return correlation_id, json.dumps(value).encode()


async def _send(
    producer: AIOKafkaProducer, topic: str, offsets: list[float], tag: str
) -> tuple[dict[str, float], float]:
    sent: dict[str, float] = {}
    pending = []
    lag = 0.0
    started = time.perf_counter()
    for number, offset in enumerate(offsets):
        delay = started + offset - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        lag = max(lag, -delay)
        correlation_id, value = _message(number, tag)
        sent_at = time.perf_counter()
        pending.append(await producer.send(topic, value, key=correlation_id.encode()))
        sent[correlation_id] = sent_at
    await asyncio.gather(*pending)
    return sent, lag


def _all_arrived(arrivals: Arrivals, sent: dict[str, float]) -> bool:
    return all(key in arrivals.balance_changes for key in sent)


async def measure(
    servers: Servers, scratch: Scratch, rate: int, seconds: float
) -> tuple[list[Figure], LatencyPoint]:
    """Messages at ``rate`` for ``seconds`` through the three hops, after a warm-up of
    ``WARM_UP_S`` at the same rate (not timed: new processes, consumer groups and
    connections are slow at first, as the services are not once their carts are set
    up); p50, p95, p99. Each rate runs on topics and databases of its own."""
    run = str(rate)
    topics = await asyncio.to_thread(_topics, servers, scratch, run)
    hops = await _launch(servers, scratch, topics, run)
    arrivals = Arrivals(servers.bootstrap_servers, [topics[-1]], **servers.kafka)
    producer = AIOKafkaProducer(
        bootstrap_servers=servers.bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        **servers.kafka,
    )
    try:
        await arrivals.start()
        await producer.start()
        warm_up = send_offsets(rate, WARM_UP_S)
        warm, _ = await _send(producer, topics[0], warm_up, f"{scratch.name}-warm")
        await arrivals.wait_until(partial(_all_arrived, arrivals, warm), LOST_AFTER_S)
        sent, lag = await _send(producer, topics[0], send_offsets(rate, seconds), scratch.name)
        await arrivals.wait_until(partial(_all_arrived, arrivals, sent), LOST_AFTER_S)
        point = summarize(rate, sent, dict(arrivals.balance_changes), 0, lag)
    finally:
        with contextlib.suppress(Exception):
            await producer.stop()
        await arrivals.stop()
        await asyncio.to_thread(hops.stop)
    return figures(point, seconds), point


def figures(point: LatencyPoint, seconds: float) -> list[Figure]:
    label = f"{HOPS} hops alone (floor), {point.offered_rate}/s"
    notes = (
        f"{point.count:,} messages offered at {point.offered_rate}/s for {seconds:g} s, "
        f"achieved {point.achieved_rate:.1f}/s; {point.lost} lost; each hop: inbox, one "
        "effect row, outbox in one transaction per poll, then the relay"
    )
    verdict = "under" if point.p99_ms <= TARGET_P99_MS else "over"
    return [
        Figure(f"{label} p50", point.p50_ms, "ms", notes),
        Figure(f"{label} p95", point.p95_ms, "ms", "nearest rank"),
        Figure(
            f"{label} p99",
            point.p99_ms,
            "ms",
            f"{verdict} the {TARGET_P99_MS:.0f} ms target with no logic at all",
        ),
    ]


if __name__ == "__main__":
    bootstrap, source, target, dsn, group = sys.argv[1:6]
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(hop(bootstrap, source, target, dsn, group))
