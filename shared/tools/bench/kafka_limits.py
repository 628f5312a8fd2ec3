"""Kafka's raw rates with aiokafka: what any service's consume-handle-produce loop is under.

Produce: one idempotent producer, ``acks=all``, every send queued without waiting
for its acknowledgement, then one flush; the clock stops when every record is
acknowledged. Consume: one consumer, no group, all partitions assigned, ``getmany``
from the beginning until every record is read.
"""

from __future__ import annotations

import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from contracts.topics import TopicSpec
from shared.tools.bench.envelopes import account_ids, deposit, record
from shared.tools.bench.report import Figure
from shared.tools.bench.servers import Scratch, Servers
from shared.tools.stack import ensure_topics

PARTITIONS = 6
STALL_S = 30.0


def create_topic(servers: Servers, scratch: Scratch) -> str:
    spec = TopicSpec("raw", partitions=PARTITIONS, key="account id", description="benchmark")
    scratch.topics.append(f"{scratch.topic_prefix}{spec.name}")
    ensure_topics(servers.bootstrap_servers, [spec], prefix=scratch.topic_prefix, **servers.kafka)
    return scratch.topics[-1]


async def produce(servers: Servers, topic: str, messages: int, tag: str) -> list[Figure]:
    accounts = account_ids(tag, 1000)
    keys = [accounts[n % len(accounts)].encode() for n in range(messages)]
    records = [record(deposit(key.decode(), f"{tag}-tx-{n}")) for n, key in enumerate(keys)]
    size = sum(len(value) for value, _ in records) / messages
    producer = AIOKafkaProducer(
        bootstrap_servers=servers.bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        **servers.kafka,
    )
    await producer.start()
    try:
        started = time.perf_counter()
        pending = [
            await producer.send(topic, value, key=key, headers=headers)
            for (value, headers), key in zip(records, keys, strict=True)
        ]
        await producer.flush()
        for acknowledgement in pending:
            await acknowledgement  # raises if Kafka refused one
        seconds = time.perf_counter() - started
    finally:
        await producer.stop()
    notes = f"{messages:,} x {size:.0f} B envelopes, {PARTITIONS} partitions, acks=all, idempotent"
    return [
        Figure("kafka produce", messages / seconds, "msg/s", notes),
        Figure("kafka produce bytes", messages * size / seconds / 1e6, "MB/s", "values only"),
    ]


async def consume(servers: Servers, topic: str, messages: int) -> Figure:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=servers.bootstrap_servers,
        enable_auto_commit=False,
        **servers.kafka,
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, number) for number in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        read = 0
        started = last_progress = time.perf_counter()
        while read < messages:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            got = sum(len(batch) for batch in batches.values())
            read += got
            if got:
                last_progress = time.perf_counter()
            elif time.perf_counter() - last_progress > STALL_S:
                raise RuntimeError(f"read {read:,} of {messages:,} records, then nothing")
        seconds = time.perf_counter() - started
    finally:
        await consumer.stop()
    return Figure("kafka consume", read / seconds, "msg/s", "getmany, one consumer, no group")
