"""A consumer outside any group, for one look at a topic's offsets or records (dead
letters, consumer lag): nothing committed, no group joined, stopped after the look."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer

from shared.runtime.broker import kafka_client_options
from shared.runtime.settings import Settings


@asynccontextmanager
async def groupless_consumer(settings: Settings, client_id: str) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=client_id,
        group_id=None,
        enable_auto_commit=False,
        **kafka_client_options(settings),
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()
