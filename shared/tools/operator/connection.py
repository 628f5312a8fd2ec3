"""Kafka clients for operator commands, configured from Settings like the services.

The services connect through FastStream (shared/runtime/broker.py); an operator command
needs plain aiokafka clients instead: an admin client for groups and offsets, a
consumer without a group (it reads, never commits, so it cannot disturb a
service), and an idempotent producer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from contracts.topics import ALL_TOPICS, TopicSpec, topic_by_name
from shared.runtime.broker import kafka_client_options
from shared.runtime.settings import Settings
from shared.tools.consumers import groupless_consumer
from shared.tools.operator.errors import OperatorError

CLIENT_ID = "storecredit-cli"


def client_options(settings: Settings) -> dict[str, Any]:
    """aiokafka's connection arguments, with the security options the services use."""
    try:
        security = kafka_client_options(settings)
    except ValueError as error:
        raise OperatorError(str(error)) from None
    return {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "client_id": CLIENT_ID,
        **security,
    }


@asynccontextmanager
async def admin_client(settings: Settings) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


@asynccontextmanager
async def reader(settings: Settings) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer outside any group: it is assigned partitions and commits nothing."""
    consumer = groupless_consumer("earliest", **client_options(settings))
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


@asynccontextmanager
async def writer(settings: Settings) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(acks="all", enable_idempotence=True, **client_options(settings))
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


def registry_topic(name: str) -> TopicSpec:
    """The registry entry named ``name`` (``ledger.commands``), or a clear refusal."""
    try:
        return topic_by_name(name)
    except KeyError:
        known = ", ".join(spec.name for spec in ALL_TOPICS)
        raise OperatorError(f"{name!r} is not a platform topic; one of: {known}") from None


async def partition_counts(admin: AIOKafkaAdminClient, topics: Iterable[str]) -> dict[str, int]:
    """How many partitions each existing topic has; a missing topic is left out.

    Every topic's metadata is asked for, not only these: asking a broker that
    auto-creates topics about a missing one would create it.
    """
    wanted = set(topics)
    return {
        described["topic"]: len(described["partitions"])
        for described in await admin.describe_topics()
        if described["topic"] in wanted and described["error_code"] == 0
    }


async def partitions_of(settings: Settings, topic: str) -> list[TopicPartition]:
    """The partitions of one topic, or a refusal naming it when it does not exist."""
    async with admin_client(settings) as admin:
        counts = await partition_counts(admin, [topic])
    if topic not in counts:
        raise OperatorError(
            f"topic {topic} does not exist on {settings.kafka_bootstrap_servers} "
            "(is STORECREDIT_TOPIC_PREFIX right? has `storecredit setup` run?)"
        )
    return [TopicPartition(topic, partition) for partition in range(counts[topic])]
