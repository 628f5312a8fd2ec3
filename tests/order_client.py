"""A test client of the order service over Kafka."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer

from contracts.envelope import Actor, ActorKind
from contracts.topics import ORDER_COMMAND_RESULTS, ORDER_COMMANDS, ORDER_EVENTS
from shared.runtime.settings import Settings
from tests.kafka_tools import OrderCommandClient

SHOP = Actor(kind=ActorKind.SERVICE, id="shop")


def customer(customer_id: str) -> Actor:
    return Actor(kind=ActorKind.CUSTOMER, id=customer_id)


class Orders(OrderCommandClient):
    commands = ORDER_COMMANDS
    default_actor = SHOP
    event_type = "Order"

    async def credits_settled(self, order_id: str, count: int) -> dict[str, Any]:
        """The order once ``count`` applied credits are no longer in flight."""
        return await self.when(
            order_id,
            lambda o: (
                len(o["applied_credits"]) >= count
                and all(c["status"] not in ("requested", "holding") for c in o["applied_credits"])
            ),
        )


async def make_orders(producer: AIOKafkaProducer, settings: Settings, watch: Any) -> Orders:
    watcher = await watch(settings.topic(ORDER_COMMAND_RESULTS), settings.topic(ORDER_EVENTS))
    return Orders(producer, settings, watcher)
