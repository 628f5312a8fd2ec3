"""Resting when idle: a batch consumer long-polls (one wait of LONG_POLL_MS that returns
when records come, and after an empty answer the next poll straight away, so an idle
consumer wakes about once a second and a record arriving then is not held); the outbox
relay looks for rows less and less often while nothing happens."""

from __future__ import annotations

import time
from typing import Any

from faststream.kafka import KafkaBroker

from shared.runtime.pipeline import LONG_POLL_MS, subscribe
from shared.runtime.relay import idle_delay
from shared.runtime.settings import Settings


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
