"""The world the fuzz test's valid traffic works in, and the wire it talks over.

Before any bad message is sent, valid commands make a ledger account (deposits go to
it), a point-account template (new customers get an account from it), a wallet (its
balance changes reach store-credit over ledger.balances), an open cart (line items go
into it), an order checked out with eight manual items (fulfilled one by one) and an
order to check out after the garbage on order.events.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiokafka import AIOKafkaProducer

from contracts.envelope import MAX_REFERENCES, Actor, ActorKind, Message
from contracts.ledger import CreatePointTransaction, OpenLedgerAccount, PointTransactionKind
from contracts.order import AddProductLineItem, CheckoutOrder, CreateOrder, ExternalPayment
from contracts.store_credit import CreatePointAccount, CreatePointAccountTemplate
from contracts.topics import LEDGER_COMMANDS, ORDER_COMMANDS, STORE_CREDIT_COMMANDS, TopicSpec
from shared.runtime.settings import Settings
from tests.integration.fuzz_inputs import ACCEPTED, IGNORED, Probe, envelope_of, probe_of
from tests.kafka_tools import ADMIN, Record, TopicWatcher
from tests.random_refs import random_id

SHOP = Actor(kind=ActorKind.SERVICE, id="shop")


def body_of(record: Record) -> dict[str, Any]:
    """A record's JSON object, or {} for anything else (garbage is on these topics too)."""
    try:
        body = json.loads(record.value)
    except (ValueError, RecursionError):
        return {}
    return body if isinstance(body, dict) else {}


@dataclass
class World:
    """A ledger account, a template, a wallet and orders, made by valid commands first."""

    owner: str = field(default_factory=lambda: random_id("cust"))
    account: str = field(default_factory=lambda: random_id("acct"))
    heavy: str = field(default_factory=lambda: random_id("acct"))
    """An account whose history is too large for one reply (``heavy_account``)."""
    template: str = field(default_factory=lambda: random_id("tpl"))
    wallet_owner: str = field(default_factory=lambda: random_id("cust"))
    wallet: str = field(default_factory=lambda: random_id("wallet"))
    accounts_owner: str = field(default_factory=lambda: random_id("cust"))
    shopper: str = field(default_factory=lambda: random_id("cust"))
    cart: str = field(default_factory=lambda: random_id("ord"))
    shipped: str = field(default_factory=lambda: random_id("ord"))
    later: str = field(default_factory=lambda: random_id("ord"))
    manual_items: list[str] = field(default_factory=list)


class Wire:
    """Sends messages and waits for their answers on one watcher of every answer topic."""

    def __init__(self, settings: Settings, producer: AIOKafkaProducer, watcher: TopicWatcher):
        self.settings = settings
        self.producer = producer
        self.watcher = watcher

    async def send(self, topic: TopicSpec, probe: Probe) -> Any:
        """Publish a probe without waiting for Kafka; answers its delivery future."""
        return await self.producer.send(
            self.settings.topic(topic),
            probe.value,
            key=None if probe.keyless else probe.key,
            headers=probe.headers,
        )

    async def do(self, topic: TopicSpec, key: str, payload: Message, actor: Actor = ADMIN) -> Any:
        """Send a command; its result's payload."""
        probe = probe_of(payload.message_type, envelope_of(payload, actor), ACCEPTED)
        probe.key = key.encode()
        await (await self.send(topic, probe))
        [result] = await self.watcher.wait_for(
            lambda r: (
                r.headers.get("type") == "CommandResult"
                and body_of(r).get("causation_id") == probe.message_id
            )
        )
        return result.json()["payload"]

    async def ask(
        self, topic: TopicSpec, replies: TopicSpec, key: str, query: Message, actor: Actor = ADMIN
    ) -> tuple[str, Any]:
        """Send a query; its reply's type and payload."""
        probe = probe_of(query.message_type, envelope_of(query, actor), IGNORED)
        probe.key = key.encode()
        probe.headers = [
            ("reply_to", self.settings.topic(replies).encode()),
            ("correlation-id", probe.correlation_id.encode()),
        ]
        await (await self.send(topic, probe))
        [reply] = await self.watcher.wait_for(
            lambda r: (
                r.topic == self.settings.topic(replies)
                and body_of(r).get("correlation_id") == probe.correlation_id
            )
        )
        return reply.json()["type"], reply.json()["payload"]


def fulfillment_of(order_id: str) -> Callable[[Record], bool]:
    return lambda r: (
        r.headers.get("type") == "Fulfillment" and body_of(r)["payload"]["order_id"] == order_id
    )


async def make_world(wire: Wire) -> World:
    """Everything the valid traffic needs, made by valid commands before any fuzzing."""
    world = World()
    template = CreatePointAccountTemplate(
        template_id=world.template,
        name="Fuzz points",
        kind="loyalty",
        unit="points:fuzz-template",
        exchange_rates={"USD": Decimal("0.01")},
    )
    wallet = CreatePointAccount(
        account_id=world.wallet,
        customer_id=world.wallet_owner,
        name="Fuzz wallet",
        kind="wallet",
        unit="points:fuzz",
    )
    cart = CreateOrder(order_id=world.cart, customer_id=world.shopper, currency="USD")
    opened = OpenLedgerAccount(
        account_id=world.account, unit="points:fuzz", customer_id=world.owner
    )
    answers = await asyncio.gather(
        wire.do(LEDGER_COMMANDS, world.account, opened),
        heavy_account(wire, world.heavy),
        wire.do(STORE_CREDIT_COMMANDS, world.template, template),
        wire.do(STORE_CREDIT_COMMANDS, world.wallet_owner, wallet),
        wire.do(ORDER_COMMANDS, world.cart, cart, SHOP),
        order_of_mugs(wire, world.shipped, 8),
        order_of_mugs(wire, world.later, 1),
    )
    assert all(answer["status"] == "accepted" for answer in answers), answers
    await check_out(wire, world.shipped, 8 * 100)
    await wire.watcher.wait_for(  # the wallet's ledger account, opened by store-credit
        lambda r: (
            r.headers.get("type") == "CommandResult"
            and body_of(r)["payload"]["command_type"] == "OpenLedgerAccount"
            and body_of(r)["payload"]["produced"].get("account_id") == world.wallet
        )
    )
    [shipped] = (await wire.watcher.wait_for(fulfillment_of(world.shipped)))[:1]
    world.manual_items = [
        item["fulfillment_item_id"] for item in shipped.json()["payload"]["items"]
    ]
    return world


async def heavy_account(wire: Wire, account_id: str) -> Any:
    """An account of 180 deposits, each with every text at its longest (20 references,
    500 characters of description): a page of them is more than Kafka takes in one reply."""
    opened = OpenLedgerAccount(account_id=account_id, unit="points:fuzz")
    answer = await wire.do(LEDGER_COMMANDS, account_id, opened)
    references = {f"r{n:02d}".ljust(128, "r"): "x" * 128 for n in range(MAX_REFERENCES)}
    for _ in range(180):
        deposit = CreatePointTransaction(
            account_id=account_id,
            transaction_id=random_id("tx").ljust(128, "x"),
            amount=1,
            kind=PointTransactionKind.DEPOSIT,
            description="d" * 500,
            references=references,
        )
        done = await wire.do(LEDGER_COMMANDS, account_id, deposit)
        assert done["status"] == "accepted", done
    return answer


async def order_of_mugs(wire: Wire, order_id: str, mugs: int) -> Any:
    """An open order of ``mugs`` lines of one 1.00 mug each."""
    opened = CreateOrder(order_id=order_id, customer_id=random_id("cust"), currency="USD")
    answer = await wire.do(ORDER_COMMANDS, order_id, opened, SHOP)
    for n in range(mugs):
        line = AddProductLineItem(
            order_id=order_id, line_item_id=f"mug-{n}", sku="MUG", name="Mug", unit_price=100
        )
        added = await wire.do(ORDER_COMMANDS, order_id, line, SHOP)
        assert added["status"] == "accepted", added
    return answer


async def check_out(wire: Wire, order_id: str, amount: int) -> None:
    payment = ExternalPayment(provider_reference_name="card", token="tok-fuzz", amount=amount)
    checkout = CheckoutOrder(order_id=order_id, payment=payment)
    done = await wire.do(ORDER_COMMANDS, order_id, checkout, SHOP)
    assert done["status"] == "accepted", done
