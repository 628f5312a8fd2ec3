"""The arrange steps of the order path's integration tests: services started with a
shop to use them (the four services' clients and one customer), store credits issued,
carts opened and filled, point transactions held, store credits applied."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from contracts.envelope import Actor
from contracts.ledger import CreatePointTransaction, PointTransactionKind, PointTransactionStatus
from contracts.order import (
    AddPointTransactionLineItem,
    AddProductLineItem,
    ApplyStoreCredit,
    CreateOrder,
    EarnPoints,
    ExternalPayment,
    SetOrderCharges,
)
from contracts.store_credit import CreatePointAccount, CreateStoreCredit
from services.fulfillment.app import definition as fulfillment
from services.ledger.app import definition as ledger
from services.order.app import definition as order_service
from services.store_credit.app import definition as store_credit
from services.store_credit.db import store_credits
from shared.runtime.db import create_engine
from shared.runtime.service import ServiceDefinition
from shared.runtime.settings import Settings
from tests.fulfillment_client import Fulfillments, make_fulfillments
from tests.integration.conftest import running
from tests.kafka_tools import has_type
from tests.ledger_client import Ledger, make_ledger
from tests.order_client import Orders, customer, make_orders
from tests.random_refs import random_id
from tests.sealed import REPLY_PUBLIC_KEY, opened, sealed
from tests.store_credit_client import StoreCredit, make_store_credit

SHOP_SERVICES: tuple[ServiceDefinition, ...] = (ledger, store_credit, order_service)
"""What an order needs: the ledger, the store-credit service and the order service."""
ALL_SERVICES: tuple[ServiceDefinition, ...] = (*SHOP_SERVICES, fulfillment)
CARD = "tok_visa"


def card(amount: int, token: str = CARD) -> ExternalPayment:
    """A card payment of ``amount`` cents, as the shop reports it."""
    return ExternalPayment(provider_reference_name="Stripe-USD", token=token, amount=amount)


def mug(
    order_id: str,
    line_item_id: str = "mug",
    unit_price: int = 1_000,
    quantity: int = 1,
    points_per_unit: int | None = None,
) -> AddProductLineItem:
    """A line of mugs, earning ``points_per_unit`` loyalty points each when given."""
    earn = (
        None
        if points_per_unit is None
        else EarnPoints(unit="points:loyalty", points_per_unit=points_per_unit)
    )
    return AddProductLineItem(
        order_id=order_id,
        line_item_id=line_item_id,
        sku="MUG",
        name="Mug",
        unit_price=unit_price,
        quantity=quantity,
        earn=earn,
    )


async def settled(ask: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """The answer once it no longer depends on a copy still on its way (not retryable)."""
    async with asyncio.timeout(60):
        while True:
            answer = await ask()
            if not answer.get("retryable"):
                return answer
            await asyncio.sleep(0.1)


async def point_account(
    accounts: StoreCredit, owner: str, rates: dict[str, str], unit: str = "points:loyalty"
) -> str:
    account_id = random_id("pa")
    made = CreatePointAccount(
        account_id=account_id,
        customer_id=owner,
        name="Loyalty",
        kind="loyalty",
        unit=unit,
        exchange_rates={currency: Decimal(rate) for currency, rate in rates.items()},
    )
    assert (await accounts.do(owner, made))["status"] == "accepted"
    await accounts.watcher.wait_for(has_type("BalanceChanged", account_id=account_id))
    return account_id


async def pending(
    the_ledger: Ledger,
    account_id: str,
    amount: int,
    actor: Actor,
    expires_at: datetime | None = None,
) -> str:
    """A pending transaction of ``amount`` on the account (a spend when negative)."""
    created = CreatePointTransaction(
        account_id=account_id,
        transaction_id=random_id("tx"),
        amount=amount,
        kind=PointTransactionKind.SPEND if amount < 0 else PointTransactionKind.DEPOSIT,
        status=PointTransactionStatus.PENDING,
        expires_at=expires_at,
    )
    answer = await the_ledger.do(account_id, created, actor)
    assert answer["status"] == "accepted", answer
    return created.transaction_id


async def balance_copied(settings: Settings, store_credit_id: str, balance: int) -> None:
    """Wait until the store-credit service's copy of the ledger's balance is ``balance``
    (the account's opening reports 0 before the initial credit arrives)."""
    engine = create_engine(settings.database_url_for("store_credit"))
    query = select(store_credits.c.balance).where(store_credits.c.id == store_credit_id)
    try:
        async with asyncio.timeout(60):
            while True:
                async with engine.connect() as connection:
                    if await connection.scalar(query) == balance:
                        return
                await asyncio.sleep(0.05)
    finally:
        await engine.dispose()


async def issue(
    client: StoreCredit, settings: Settings, owner: str, amount: int, **fields: Any
) -> dict[str, Any]:
    """A store credit of ``amount`` cents for ``owner``; its result, with the code and
    token that came sealed to the tests opened (``code``, ``token``)."""
    created = CreateStoreCredit(
        store_credit_id=random_id("sc"),
        name=f"Credit {amount}",
        amount=amount,
        currency="USD",
        customer_id=owner,
        reply_public_key=REPLY_PUBLIC_KEY,
        **fields,
    )
    result = await client.do(owner, created)
    assert result["status"] == "accepted", result
    await balance_copied(settings, created.store_credit_id, amount)
    return opened(result["produced"])


async def open_order(orders: Orders, owner: str) -> str:
    order_id = random_id("ord")
    created = await orders.do(CreateOrder(order_id=order_id, customer_id=owner, currency="USD"))
    assert created["status"] == "accepted", created
    return order_id


async def seed_order(orders: Orders, owner: str) -> str:
    """The seed's order: two tickets at 15.00, shipping 24.95, no tax: 54.95."""
    order_id = await open_order(orders, owner)
    tickets = AddProductLineItem(
        order_id=order_id,
        line_item_id="tickets",
        sku="T6060",
        name="Disney Base Tickets | 4 Day Base Ticket | Adult",
        unit_price=1500,
        quantity=2,
    )
    assert (await orders.do(tickets))["status"] == "accepted"
    shipping = SetOrderCharges(
        order_id=order_id, shipping=2495, shipping_description="FedEx International (Canada Only)"
    )
    assert (await orders.do(shipping))["status"] == "accepted"
    return order_id


class Shop:
    """The four services' clients, and one customer (with a loyalty account once opened)."""

    def __init__(
        self,
        settings: Settings,
        accounts: StoreCredit,
        the_ledger: Ledger,
        orders: Orders,
        items: Fulfillments,
    ) -> None:
        self.settings = settings
        self.accounts, self.ledger, self.orders, self.items = accounts, the_ledger, orders, items
        self.owner = random_id("cust")
        self.shopper = customer(self.owner)
        self.loyalty = ""

    async def open_loyalty(self, points: int) -> None:
        self.loyalty = await point_account(self.accounts, self.owner, {"USD": "0.01"})
        deposit = self.ledger.post(self.loyalty, points)
        assert (await self.ledger.do(self.loyalty, deposit))["status"] == "accepted"

    async def balance_is(self, account_id: str, balance: int) -> None:
        await self.ledger.watcher.wait_for(
            has_type("BalanceChanged", account_id=account_id, balance=balance, holds=0)
        )

    async def issue(self, amount: int, **fields: Any) -> dict[str, Any]:
        """A store credit of ``amount`` cents for the customer; its result (with the code)."""
        return await issue(self.accounts, self.settings, self.owner, amount, **fields)

    async def open_order(self) -> str:
        return await open_order(self.orders, self.owner)

    async def seed_order(self) -> str:
        return await seed_order(self.orders, self.owner)

    async def mug_cart(self, price: int = 1_000) -> str:
        """A new cart of the customer's with one mug at ``price``."""
        order_id = await self.open_order()
        assert (await self.orders.do(mug(order_id, unit_price=price)))["status"] == "accepted"
        return order_id

    async def spend(self, points: int, expires_at: datetime | None = None) -> str:
        """A pending spend of ``points`` from the loyalty account, by the customer."""
        return await pending(self.ledger, self.loyalty, -points, self.shopper, expires_at)

    async def add_points(
        self, order_id: str, transaction_id: str, line_item_id: str = "points"
    ) -> None:
        """A point line item paying with ``transaction_id``, accepted once the order
        knows of the transaction."""
        add = AddPointTransactionLineItem(
            order_id=order_id, line_item_id=line_item_id, transaction_id=transaction_id
        )
        assert (await settled(lambda: self.orders.do(add, self.shopper)))["status"] == "accepted"

    async def apply_credit(
        self, order_id: str, application_id: str, applied: int = 1, **credit: str
    ) -> dict[str, Any]:
        """A store credit (by ``code``, sealed here, ``token`` or ``store_credit_id``)
        applied by the customer; the order once its ``applied`` credits are no longer in
        flight."""
        if "code" in credit:
            credit["sealed_code"] = sealed(credit.pop("code"), self.shopper)
        apply = ApplyStoreCredit(order_id=order_id, application_id=application_id, **credit)
        assert (await self.orders.do(apply, self.shopper))["status"] == "accepted"
        return await self.orders.credits_settled(order_id, applied)


async def the_shop(producer: AIOKafkaProducer, settings: Settings, watch: Any) -> Shop:
    return Shop(
        settings,
        await make_store_credit(producer, settings, watch),
        await make_ledger(producer, settings, watch),
        await make_orders(producer, settings, watch),
        await make_fulfillments(producer, settings, watch),
    )


@asynccontextmanager
async def shop_running(
    producer: AIOKafkaProducer,
    settings: Settings,
    watch: Any,
    services: Sequence[ServiceDefinition] = SHOP_SERVICES,
    *,
    loyalty: int | None = None,
) -> AsyncIterator[Shop]:
    """``services`` running for one test, and a shop to use them; its customer has a
    loyalty account holding ``loyalty`` points when that is given."""
    async with running(*services, settings=settings):
        shop = await the_shop(producer, settings, watch)
        if loyalty is not None:
            await shop.open_loyalty(loyalty)
        yield shop


@asynccontextmanager
async def store_credit_running(
    producer: AIOKafkaProducer,
    settings: Settings,
    watch: Any,
    services: Sequence[ServiceDefinition] = (ledger, store_credit),
) -> AsyncIterator[StoreCredit]:
    """``services`` (the ledger and the store-credit service unless told) running for
    one test, and a client of the store-credit service."""
    async with running(*services, settings=settings):
        yield await make_store_credit(producer, settings, watch)
