"""Resting when idle: a batch consumer long-polls (one wait of LONG_POLL_MS that returns
when records come, and after an empty answer the next poll straight away, so a record
arriving then is not held); every consumer of a service asks the broker to hold an empty
fetch as long, and aiokafka's fetch loop to wake as rarely, so an idle consumer wakes
about once every five seconds; the outbox relay looks for rows less and less often while
nothing happens."""

from __future__ import annotations

import secrets
import time
from typing import Any

import pytest
from faststream.kafka import KafkaBroker

from shared.runtime import claims, sealing
from shared.runtime.broker import LONG_POLL_MS, RESTING_CONSUMER
from shared.runtime.main import definition_for
from shared.runtime.pipeline import subscribe
from shared.runtime.relay import idle_delay
from shared.runtime.service import ServiceRuntime
from shared.runtime.settings import SERVICES, Settings


class Consumer:
    def __init__(self, answers: list[dict[Any, list[Any]]]) -> None:
        self.answers = answers
        self.asked: list[dict[str, Any]] = []

    async def getmany(self, **asked: Any) -> dict[Any, list[Any]]:
        self.asked.append(asked)
        return self.answers.pop(0)


async def handled(_: Any) -> None:
    pass


async def test_an_empty_poll_is_followed_by_the_next_at_once_and_records_come_whole() -> None:
    broker = KafkaBroker("127.0.0.1:1")
    subscribe(broker, Settings(batch_size=50), "t", group="g", title="t", consume=handled)
    [subscriber] = broker.subscribers
    consumer = Consumer([{}, {"p0": [1, 2], "p1": [3]}])
    started = time.monotonic()
    assert await subscriber.get_msg(consumer) == ()
    assert await subscriber.get_msg(consumer) == (1, 2, 3)
    assert time.monotonic() - started < LONG_POLL_MS / 1000  # nothing slept
    assert consumer.asked == [{"timeout_ms": LONG_POLL_MS, "max_records": 50}] * 2


def test_the_relay_looks_less_often_while_nothing_happens_and_at_once_again_after() -> None:
    waits = [idle_delay(0.5, 5.0, quiet) for quiet in range(7)]
    assert waits == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert idle_delay(0.2, 0.1, 3) == 0.1  # never above the idle bound
    assert idle_delay(0.5, 5.0, 10_000) == 5.0  # no overflow however long it rests


@pytest.mark.parametrize("service", SERVICES)
def test_every_consumer_of_a_service_waits_long_when_nothing_comes(service: str) -> None:
    keyset = claims.new_keyset(SERVICES)
    settings = Settings(
        batch_size=50,
        code_hash_key=secrets.token_hex(32),
        code_seal_private_key=sealing.new_private_key(),
        actor_signers=claims.signers_json(keyset),
        actor_keys=claims.keys_json(keyset),
    )
    runtime = ServiceRuntime(definition_for(service), settings)  # built, never started
    subscribers = runtime.broker.subscribers
    assert len(subscribers) >= 2  # its commands or events, and its queries
    for subscriber in subscribers:
        options = subscriber._connection_args  # what FastStream gives AIOKafkaConsumer
        assert {key: options[key] for key in RESTING_CONSUMER} == RESTING_CONSUMER
    assert RESTING_CONSUMER == {"fetch_max_wait_ms": 5_000, "consumer_timeout_ms": 5_000}
