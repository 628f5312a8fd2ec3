"""Only a topic's owner writes it, on the real broker with SASL and ACLs on: each forgery
of the trust-boundary issue is refused by Kafka itself, before any consumer sees it."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    TopicAuthorizationFailedError,
)

from contracts.topics import (
    LEDGER_BALANCES,
    LEDGER_COMMANDS,
    LEDGER_EVENTS,
    ORDER_COMMANDS,
    ORDER_EVENTS,
    STORE_CREDIT_EVENTS,
    TopicSpec,
)
from shared.runtime.broker import kafka_client_options
from shared.runtime.settings import Settings


def as_principal(settings: Settings, name: str, **extra: Any) -> dict[str, Any]:
    principal = settings.as_principal(name)
    assert principal.kafka_sasl_username != settings.kafka_sasl_username, "no password for it"
    return {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        **kafka_client_options(principal),
        **extra,
    }


async def write(settings: Settings, name: str, topic: TopicSpec) -> str:
    """``ok``, or the name of the error Kafka answered ``name`` writing to ``topic``."""
    producer = AIOKafkaProducer(**as_principal(settings, name, request_timeout_ms=10_000))
    await producer.start()
    try:
        await producer.send_and_wait(settings.topic(topic), b'{"forged": true}', key=b"k")
        return "ok"
    except TopicAuthorizationFailedError as error:
        return type(error).__name__
    finally:
        await producer.stop()


@pytest.mark.parametrize(
    ("writer", "topic", "outcome"),
    [
        ("ledger", LEDGER_EVENTS, "ok"),
        ("storefront", LEDGER_COMMANDS, "ok"),
        ("storefront", LEDGER_EVENTS, "TopicAuthorizationFailedError"),
        ("back-office", LEDGER_BALANCES, "TopicAuthorizationFailedError"),  # a forged balance
        ("store_credit", LEDGER_BALANCES, "TopicAuthorizationFailedError"),
        ("order", STORE_CREDIT_EVENTS, "TopicAuthorizationFailedError"),  # a forged rate
        ("shop", ORDER_EVENTS, "TopicAuthorizationFailedError"),  # a forged checkout
        ("fulfillment", ORDER_EVENTS, "TopicAuthorizationFailedError"),
        ("subscriber", ORDER_COMMANDS, "TopicAuthorizationFailedError"),
    ],
)
async def test_only_what_the_access_table_allows_is_written(
    isolated: Settings, writer: str, topic: TopicSpec, outcome: str
) -> None:
    assert await write(isolated, writer, topic) == outcome


async def test_a_subscriber_reads_events_in_its_own_groups_only(isolated: Settings) -> None:
    topic = isolated.topic(ORDER_EVENTS)
    own = AIOKafkaConsumer(
        topic,
        **as_principal(isolated, "subscriber", group_id=f"{isolated.topic_prefix}subscriber-x"),
    )
    await own.start()
    await own.stop()
    foreign = AIOKafkaConsumer(
        topic,
        **as_principal(
            isolated, "subscriber", group_id=f"{isolated.topic_prefix}storecredit-order"
        ),
    )
    with pytest.raises(GroupAuthorizationFailedError):
        await foreign.start()
        await foreign.getmany(timeout_ms=5_000)
    await foreign.stop()


async def test_an_unknown_principal_is_not_let_in(isolated: Settings) -> None:
    stranger = isolated.model_copy(
        update={"kafka_sasl_username": "nobody", "kafka_sasl_mechanism": "SCRAM-SHA-256"}
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=isolated.kafka_bootstrap_servers, **kafka_client_options(stranger)
    )
    with pytest.raises(KafkaConnectionError):
        await producer.start()
    await producer.stop()
