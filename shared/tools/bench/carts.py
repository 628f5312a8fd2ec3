"""The latency benchmark's set-up (not timed): customers with point accounts, and carts
ready to check out, each holding one product that earns points.

Checking such a cart out is the cheapest path through all four services to a ledger
commit: order publishes ``OrderCheckedOut``, fulfillment makes an earn item and asks
the ledger to create a committed transaction, the ledger commits it and publishes
``BalanceChanged`` on ``ledger.balances``. The product's price is paid by an external
payment reported with the checkout, so no store credit or points are needed.

Every step publishes all its commands at once and then waits for all their results:
thousands of carts are ready in the time the services take to handle them, not in
thousands of round trips. A cart's product is refused ``account_not_found`` while the
order service's copy of the customer's account is still on its way; it is sent again
(same idempotency key) until the copy has arrived.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from decimal import Decimal
from uuid import uuid4

from aiokafka import AIOKafkaProducer

from contracts.envelope import Actor, ActorKind, Envelope, Message, new_envelope
from contracts.order import AddProductLineItem, CreateOrder, EarnPoints
from contracts.store_credit import CreatePointAccount
from shared.runtime.settings import Settings
from shared.tools.bench.arrivals import Arrivals
from shared.tools.bench.envelopes import BENCH_ADMIN, record
from shared.tools.platform_client import topic_of

BENCH_SHOP = Actor(kind=ActorKind.SERVICE, id="shop")
PRICE = 1_500
"""Minor units of USD: what each cart's product costs, paid externally at checkout."""
POINTS = 15
STALL_S = 60.0
RETRY_PAUSE_S = 0.2


@dataclass(frozen=True)
class Cart:
    order_id: str
    customer_id: str
    account_id: str


def plan(tag: str, carts: int, customers: int) -> list[Cart]:
    """``carts`` carts spread round-robin over ``customers`` customers (one account each)."""
    people = min(customers, carts)
    return [
        Cart(
            order_id=f"{tag}-order-{number:06d}",
            customer_id=f"{tag}-cust-{number % people:05d}",
            account_id=f"{tag}-pa-{number % people:05d}",
        )
        for number in range(carts)
    ]


def unit_of(tag: str) -> str:
    return f"points:{tag}"


async def publish(
    producer: AIOKafkaProducer, settings: Settings, commands: list[tuple[str, Envelope[Message]]]
) -> None:
    """Every command queued at once, then every acknowledgement awaited."""
    pending = []
    for key, envelope in commands:
        value, headers = record(envelope)
        topic = settings.topic(topic_of(envelope.payload))
        pending.append(await producer.send(topic, value, key=key.encode(), headers=headers))
    await producer.flush()
    for acknowledgement in pending:
        await acknowledgement  # raises if Kafka refused one


def _accounts(carts: list[Cart], tag: str) -> list[tuple[str, Envelope[Message]]]:
    owners = {cart.account_id: cart.customer_id for cart in carts}
    return [
        (
            customer_id,
            new_envelope(
                CreatePointAccount(
                    account_id=account_id,
                    customer_id=customer_id,
                    name="Bench loyalty",
                    kind="loyalty",
                    unit=unit_of(tag),
                    exchange_rates={"USD": Decimal("0.01")},
                ),
                actor=BENCH_ADMIN,
            ),
        )
        for account_id, customer_id in owners.items()
    ]


def _orders(carts: list[Cart]) -> list[tuple[str, Envelope[Message]]]:
    return [
        (
            cart.order_id,
            new_envelope(
                CreateOrder(order_id=cart.order_id, customer_id=cart.customer_id, currency="USD"),
                actor=BENCH_SHOP,
            ),
        )
        for cart in carts
    ]


def _product(cart: Cart, tag: str, idempotency_key: str) -> Envelope[Message]:
    product = AddProductLineItem(
        order_id=cart.order_id,
        line_item_id="mug",
        sku="MUG",
        name="Mug",
        unit_price=PRICE,
        earn=EarnPoints(unit=unit_of(tag), points_per_unit=POINTS),
    )
    return new_envelope(product, actor=BENCH_SHOP, idempotency_key=idempotency_key)


def _refusals(
    arrivals: Arrivals, sent: list[tuple[str, Envelope[Message]]], *, but_retryable: bool = False
) -> list[str]:
    """What was refused, one line each (those worth sending again left out if asked)."""
    return [
        f"{envelope.type} {key}: {answer.get('code')} {answer.get('reason')}"
        for key, envelope in sent
        if (answer := arrivals.results[str(envelope.message_id)])["status"] != "accepted"
        and not (but_retryable and answer.get("retryable"))
    ]


async def _answered(
    arrivals: Arrivals, sent: list[tuple[str, Envelope[Message]]], what: str
) -> None:
    ids = [str(envelope.message_id) for _, envelope in sent]
    await arrivals.wait_for_all(
        lambda: sum(1 for i in ids if i not in arrivals.results), stall_s=STALL_S, what=what
    )


async def _products(
    producer: AIOKafkaProducer, settings: Settings, arrivals: Arrivals, carts: list[Cart], tag: str
) -> None:
    """A product in every cart, sent again while the order service's copy of the
    customer's account has not arrived (refused ``retryable``)."""
    waiting = {cart.order_id: (cart, str(uuid4())) for cart in carts}
    deadline = time.perf_counter() + STALL_S
    while waiting:
        sent = [(order_id, _product(cart, tag, key)) for order_id, (cart, key) in waiting.items()]
        await publish(producer, settings, sent)
        await _answered(arrivals, sent, "products added")
        retry = {
            key
            for key, envelope in sent
            if arrivals.results[str(envelope.message_id)].get("retryable")
        }
        refused = _refusals(arrivals, sent, but_retryable=True)
        if refused:
            raise RuntimeError(f"{len(refused):,} products refused, the first: {refused[0]}")
        waiting = {order_id: waiting[order_id] for order_id in retry}
        if waiting and time.perf_counter() > deadline:
            raise RuntimeError(f"{len(waiting):,} carts still without their product")
        if waiting:
            await asyncio.sleep(RETRY_PAUSE_S)  # the copy is on its way: give it a moment


async def prepare(
    producer: AIOKafkaProducer, settings: Settings, arrivals: Arrivals, carts: list[Cart], tag: str
) -> None:
    """Accounts opened in the ledger and carts holding their product, all of them."""
    accounts = _accounts(carts, tag)
    orders = _orders(carts)
    await publish(producer, settings, accounts + orders)
    await _answered(arrivals, accounts, "point accounts created")
    await _answered(arrivals, orders, "carts opened")
    refused = _refusals(arrivals, accounts + orders)
    if refused:
        raise RuntimeError(f"{len(refused):,} set-up commands refused, the first: {refused[0]}")
    opened = {cart.account_id for cart in carts}
    await arrivals.wait_for_all(
        lambda: len(opened - arrivals.accounts), stall_s=STALL_S, what="ledger accounts opened"
    )
    await _products(producer, settings, arrivals, carts, tag)
