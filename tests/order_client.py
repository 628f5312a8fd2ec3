"""A test client of the order service over Kafka."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaProducer

from contracts.envelope import Actor, ActorKind, Message
from contracts.topics import ORDER_COMMAND_RESULTS, ORDER_COMMANDS, ORDER_EVENTS
from shared.runtime.settings import Settings
from tests.kafka_tools import Record, TopicWatcher, command, is_result_of, send_envelope

SHOP = Actor(kind=ActorKind.SERVICE, id="shop")


def customer(customer_id: str) -> Actor:
    return Actor(kind=ActorKind.CUSTOMER, id=customer_id)


class Orders:
    def __init__(self, producer: AIOKafkaProducer, settings: Settings, watcher: TopicWatcher):
        self.producer = producer
        self.settings = settings
        self.watcher = watcher

    async def do(
        self, payload: Message, actor: Actor = SHOP, key: str | None = None
    ) -> dict[str, Any]:
        envelope = command(payload, actor=actor, key=key)
        order_id: str = payload.order_id  # type: ignore[attr-defined]
        await send_envelope(self.producer, self.settings.topic(ORDER_COMMANDS), order_id, envelope)
        [result] = await self.watcher.wait_for(is_result_of(envelope))
        answer: dict[str, Any] = result.json()["payload"]
        return answer

    async def order_when(
        self, order_id: str, condition: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        """The first Order event of ``order_id`` that meets ``condition``."""

        def check(record: Record) -> bool:
            body = record.json()
            return (
                body["type"] == "Order"
                and body["payload"]["order_id"] == order_id
                and condition(body["payload"])
            )

        [event] = (await self.watcher.wait_for(check))[:1]
        payload: dict[str, Any] = event.json()["payload"]
        return payload

    async def credits_settled(self, order_id: str, count: int) -> dict[str, Any]:
        """The order once ``count`` applied credits are no longer in flight."""
        return await self.order_when(
            order_id,
            lambda o: (
                len(o["applied_credits"]) >= count
                and all(c["status"] not in ("requested", "holding") for c in o["applied_credits"])
            ),
        )


async def make_orders(producer: AIOKafkaProducer, settings: Settings, watch: Any) -> Orders:
    watcher = await watch(settings.topic(ORDER_COMMAND_RESULTS), settings.topic(ORDER_EVENTS))
    return Orders(producer, settings, watcher)
