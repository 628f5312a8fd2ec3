"""A test client of the fulfillment service over Kafka."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer

from contracts.envelope import Actor, ActorKind, Message, RawEnvelope
from contracts.topics import (
    FULFILLMENT_COMMAND_RESULTS,
    FULFILLMENT_COMMANDS,
    FULFILLMENT_EVENTS,
    FULFILLMENT_QUERIES,
    FULFILLMENT_QUERY_REPLIES,
)
from shared.runtime.settings import Settings
from shared.tools.operator.keys import natural_key
from tests.kafka_tools import OrderCommandClient, ask

OPERATOR = Actor(kind=ActorKind.ADMIN, id="warehouse-1")


async def ask_fulfillment(settings: Settings, question: Message, actor: Actor) -> RawEnvelope:
    """The fulfillment service's answer to a query on ``fulfillment.queries``."""
    key = natural_key(FULFILLMENT_QUERIES.name, question) or question.message_type
    return await ask(settings, FULFILLMENT_QUERIES, FULFILLMENT_QUERY_REPLIES, key, question, actor)


class Fulfillments(OrderCommandClient):
    commands = FULFILLMENT_COMMANDS
    default_actor = OPERATOR
    event_type = "Fulfillment"

    async def answered(self, order_id: str) -> dict[str, Any]:
        """The fulfillment once the ledger has answered for every auto item."""
        return await self.when(
            order_id, lambda f: all(i["status"] != "committing" for i in f["items"])
        )

    async def returned(self, order_id: str, return_id: str) -> dict[str, Any]:
        """The return, once every part of it is done or failed."""
        fulfillment = await self.when(
            order_id,
            lambda f: any(
                r["return_id"] == return_id and r["status"] != "in_progress" for r in f["returns"]
            ),
        )
        [found] = [r for r in fulfillment["returns"] if r["return_id"] == return_id]
        return found


async def make_fulfillments(
    producer: AIOKafkaProducer, settings: Settings, watch: Any
) -> Fulfillments:
    watcher = await watch(
        settings.topic(FULFILLMENT_COMMAND_RESULTS), settings.topic(FULFILLMENT_EVENTS)
    )
    return Fulfillments(producer, settings, watcher)
