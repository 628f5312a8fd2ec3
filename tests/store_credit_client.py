"""A test client of the store-credit service over Kafka."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer

from contracts.customers import CustomerCreated
from contracts.envelope import Actor, ActorKind, Envelope, Message, new_envelope
from contracts.topics import (
    CUSTOMERS_EVENTS,
    LEDGER_BALANCES,
    LEDGER_EVENTS,
    STORE_CREDIT_COMMAND_RESULTS,
    STORE_CREDIT_COMMANDS,
    STORE_CREDIT_EVENTS,
)
from shared.runtime.settings import Settings
from tests.kafka_tools import ADMIN, CommandClient, command, send_envelope

UPSTREAM = Actor(kind=ActorKind.SERVICE, id="shop")


class StoreCredit(CommandClient):
    commands = STORE_CREDIT_COMMANDS

    async def do(self, key: str, payload: Message, actor: Actor = ADMIN) -> dict[str, Any]:
        return await self.ask(key, command(payload, actor=actor))

    async def customer_created(self, customer_id: str) -> Envelope[Message]:
        envelope = new_envelope(CustomerCreated(customer_id=customer_id), actor=UPSTREAM)
        await send_envelope(
            self.producer, self.settings.topic(CUSTOMERS_EVENTS), customer_id, envelope
        )
        return envelope


async def make_store_credit(
    producer: AIOKafkaProducer, settings: Settings, watch: Any
) -> StoreCredit:
    watcher = await watch(
        settings.topic(STORE_CREDIT_COMMAND_RESULTS),
        settings.topic(STORE_CREDIT_EVENTS),
        settings.topic(LEDGER_BALANCES),
        settings.topic(LEDGER_EVENTS),
    )
    return StoreCredit(producer, settings, watcher)
