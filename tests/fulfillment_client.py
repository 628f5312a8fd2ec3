"""A test client of the fulfillment service over Kafka."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaProducer

from contracts.envelope import Actor, ActorKind, Message
from contracts.topics import FULFILLMENT_COMMAND_RESULTS, FULFILLMENT_COMMANDS, FULFILLMENT_EVENTS
from shared.runtime.settings import Settings
from tests.kafka_tools import Record, TopicWatcher, command, is_result_of, send_envelope

OPERATOR = Actor(kind=ActorKind.ADMIN, id="warehouse-1")


class Fulfillments:
    def __init__(self, producer: AIOKafkaProducer, settings: Settings, watcher: TopicWatcher):
        self.producer = producer
        self.settings = settings
        self.watcher = watcher

    async def do(
        self, payload: Message, actor: Actor = OPERATOR, key: str | None = None
    ) -> dict[str, Any]:
        envelope = command(payload, actor=actor, key=key)
        order_id: str = payload.order_id  # type: ignore[attr-defined]
        topic = self.settings.topic(FULFILLMENT_COMMANDS)
        await send_envelope(self.producer, topic, order_id, envelope)
        [result] = await self.watcher.wait_for(is_result_of(envelope))
        answer: dict[str, Any] = result.json()["payload"]
        return answer

    async def when(
        self, order_id: str, condition: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        """The first ``Fulfillment`` event of ``order_id`` that meets ``condition``."""

        def check(record: Record) -> bool:
            body = record.json()
            return (
                body["type"] == "Fulfillment"
                and body["payload"]["order_id"] == order_id
                and condition(body["payload"])
            )

        [event] = (await self.watcher.wait_for(check))[:1]
        payload: dict[str, Any] = event.json()["payload"]
        return payload

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
