"""The order service's refusals not met elsewhere, and a checkout retried with its
key, over real Kafka and PostgreSQL. Each refusal is provoked for real: accounts and
point transactions are made through the store-credit service and the ledger, and the
order learns of them from their events, as in production."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select, update

from contracts.ledger import CommitPointTransaction, VoidPointTransaction
from contracts.order import (
    AddDepositLineItem,
    AddPointTransactionLineItem,
    AddProductLineItem,
    ApplyStoreCredit,
    CheckoutOrder,
)
from contracts.store_credit import PointAccountStatus, UpdatePointAccount
from services.order.app import definition as order_service
from services.order.db import orders as orders_table
from services.order.db import pending_transactions, point_accounts
from shared.runtime.db import create_engine
from shared.runtime.messaging_tables import outbox
from shared.runtime.settings import Settings
from tests.copies import copy_reaches
from tests.integration.conftest import running
from tests.integration.shop import card, pending, point_account, seed_order, settled, shop_running
from tests.kafka_tools import ADMIN as ADMIN_ACTOR
from tests.kafka_tools import has_type
from tests.order_client import customer, make_orders
from tests.random_refs import random_id

MARGIN_S = 30  # a point transaction must outlive checkout by this much


async def test_every_cart_refusal_is_answered_with_its_code(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    settings = isolated.model_copy(update={"checkout_margin_s": MARGIN_S, "cart_sweep_ms": 600_000})
    async with shop_running(producer, settings, watch) as shop:
        accounts, the_ledger, orders = shop.accounts, shop.ledger, shop.orders
        owner, shopper, stranger = shop.owner, shop.shopper, random_id("cust")
        loyalty = await point_account(accounts, owner, {"USD": "0.01"})
        euros_only = await point_account(accounts, owner, {"EUR": "0.01"}, "points:euro")
        suspended = await point_account(accounts, owner, {"USD": "0.01"}, "points:other")
        theirs = await point_account(accounts, stranger, {"USD": "0.01"})
        for account_id in (loyalty, euros_only):
            deposit = the_ledger.post(account_id, 100_000)
            assert (await the_ledger.do(account_id, deposit))["status"] == "accepted"
        order_id = await shop.seed_order()

        def line(transaction_id: str) -> Callable[[], Awaitable[dict[str, Any]]]:
            add = AddPointTransactionLineItem(
                order_id=order_id, line_item_id=random_id("line"), transaction_id=transaction_id
            )
            return lambda: orders.do(add, shopper)

        def deposit_into(account_id: str) -> Callable[[], Awaitable[dict[str, Any]]]:
            add = AddDepositLineItem(**_gift(order_id), account_id=account_id)
            return lambda: orders.do(add)

        twice = AddProductLineItem(
            order_id=order_id, line_item_id="tickets", sku="T", name="T", unit_price=1
        )
        assert (await orders.do(twice))["code"] == "line_item_exists"

        # Deposit lines: an account the order has never heard of may still be on its way
        # (retryable); another customer's account and a suspended one are refused.
        nowhere = await orders.do(AddDepositLineItem(**{**_gift(order_id), "account_id": "pa-x"}))
        assert (nowhere["code"], nowhere["retryable"]) == ("account_not_found", True)
        not_mine = await settled(deposit_into(theirs))
        assert (not_mine["code"], not_mine["retryable"]) == ("account_not_usable", False)
        suspend = UpdatePointAccount(
            account_id=suspended, customer_id=owner, status=PointAccountStatus.SUSPENDED
        )
        assert (await accounts.do(owner, suspend))["status"] == "accepted"
        await _copy_reaches(settings, suspended, "suspended", point_accounts)
        assert (await deposit_into(suspended)())["code"] == "account_not_usable"

        # Point lines: only a pending spend, still pending, lasting long enough, on an
        # account with a rate for the order's currency.
        in_euros = await pending(the_ledger, euros_only, -500, shopper)
        assert (await settled(line(in_euros)))["code"] == "no_exchange_rate"
        credit_not_spend = await pending(the_ledger, loyalty, 500, ADMIN_ACTOR)
        assert (await settled(line(credit_not_spend)))["code"] == "not_a_spend"
        committed = await pending(the_ledger, loyalty, -500, shopper)
        commit = CommitPointTransaction(account_id=loyalty, transaction_id=committed)
        assert (await the_ledger.do(loyalty, commit))["status"] == "accepted"
        await _copy_reaches(settings, committed, "committed")
        assert (await line(committed)())["code"] == "transaction_not_pending"
        short_lived = await pending(
            the_ledger, loyalty, -500, shopper, expires_at=_in(MARGIN_S - 5)
        )
        assert (await settled(line(short_lived)))["code"] == "transaction_expires_too_soon"

        # The same application twice: the first stands, the second is refused.
        first = ApplyStoreCredit(order_id=order_id, application_id="a1", token="tok-" + owner)
        assert (await orders.do(first, shopper))["status"] == "accepted"
        again = ApplyStoreCredit(order_id=order_id, application_id="a1", store_credit_id="sc-1")
        assert (await orders.do(again, shopper))["code"] == "application_exists"

        # Points worth more than everything else: the total would be negative.
        only_points = await shop.open_order()
        await shop.add_points(only_points, await pending(the_ledger, loyalty, -2_000, shopper))
        negative = await orders.do(CheckoutOrder(order_id=only_points), shopper)
        assert negative["code"] == "negative_total", negative

        # A cart past its end: nothing changes it and it does not check out. (Its end is
        # moved into the past; the sweep that would abandon it runs every ten minutes here.)
        await _end_cart(settings, order_id)
        assert (await orders.do(twice.model_copy(update={"line_item_id": "late"})))[
            "code"
        ] == "cart_expired"
        assert (await orders.do(CheckoutOrder(order_id=order_id), shopper))[
            "code"
        ] == "cart_expired"


async def test_checkout_refuses_point_lines_that_stopped_being_usable(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    """A point line accepted earlier is checked again at checkout: its transaction
    must still be pending, and must outlive checkout by the margin."""
    settings = isolated.model_copy(update={"checkout_margin_s": MARGIN_S})
    async with shop_running(producer, settings, watch, loyalty=100_000) as shop:
        the_ledger, orders, loyalty = shop.ledger, shop.orders, shop.loyalty
        voided_order = await shop.seed_order()
        voided = await shop.spend(1_000)
        await shop.add_points(voided_order, voided)
        void = VoidPointTransaction(account_id=loyalty, transaction_id=voided, reason="test")
        assert (await the_ledger.do(loyalty, void))["status"] == "accepted"
        # The order knows of the void from its copy, fed by ledger.events: until the copy
        # has it, a checkout would still be accepted (fulfillment's commit then fails).
        await _copy_reaches(settings, voided, "voided")
        checkout = CheckoutOrder(order_id=voided_order, payment=card(4_495))
        refused = await orders.do(checkout)
        assert refused["code"] == "transaction_not_pending", refused
        assert "remove the item" in refused["reason"]

        # Long enough when added, too short by checkout. Rather than wait half a minute,
        # the order's copy of the transaction is made to end sooner, as time would.
        fading_order = await shop.seed_order()
        fading = await shop.spend(1_000, expires_at=_in(3_600))
        await shop.add_points(fading_order, fading)
        await _move_copy_end(settings, fading, _in(MARGIN_S - 1))
        late = await orders.do(CheckoutOrder(order_id=fading_order, payment=card(4_495)))
        assert late["code"] == "transaction_expires_too_soon", late


async def test_checkout_waits_for_store_credit_still_being_applied(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    """Without the store-credit service, an applied credit stays ``requested``: the
    order cannot tell yet what it pays, so checkout is refused until it can."""
    async with running(order_service, settings=isolated):
        orders = await make_orders(producer, isolated, watch)
        owner = random_id("cust")
        order_id = await seed_order(orders, owner)
        apply = ApplyStoreCredit(order_id=order_id, application_id="a", token="tok-unanswered")
        assert (await orders.do(apply, customer(owner)))["status"] == "accepted"
        pending_checkout = await orders.do(CheckoutOrder(order_id=order_id, payment=card(5_495)))
        assert pending_checkout["code"] == "store_credit_pending", pending_checkout


async def test_a_checkout_retried_with_its_key_is_answered_again_not_done_again(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    async with shop_running(producer, isolated, watch) as shop:
        orders = shop.orders
        credit = await shop.issue(3_000)
        order_id = await shop.seed_order()
        await shop.apply_credit(order_id, "a", token=credit["token"])

        key = random_id("checkout")
        checkout = CheckoutOrder(order_id=order_id, payment=card(2_495))
        first = await orders.do(checkout, key=key)
        assert first["status"] == "accepted", first
        retried = await orders.do(checkout, key=key)  # a new message, the same key
        assert retried["status"] == "accepted", retried
        assert (retried["command_id"], retried["produced"]) == (
            first["command_id"],
            first["produced"],
        )
        other_payload = CheckoutOrder(order_id=order_id, payment=card(2_000))
        reused = await orders.do(other_payload, key=key)
        assert reused["code"] == "idempotency_key_reused", reused

        await orders.watcher.wait_for(has_type("OrderCheckedOut", order_id=order_id))
        assert await _checked_out_events_written(isolated, order_id) == 1


def _gift(order_id: str) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "line_item_id": random_id("line"),
        "sku": "GIFT",
        "name": "Gift",
        "unit_price": 1_000,
        "points_per_unit": 1_000,
    }


def _in(seconds: int) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


async def _copy_reaches(
    settings: Settings, row_id: str, status: str, table: Any = pending_transactions
) -> None:
    """Wait until the order service's copy (of a ledger transaction, or of a point
    account) has ``status``: until then the order decides on what it knew before."""
    await copy_reaches(settings, "order", table.c.status, row_id, status, 60)


async def _move_copy_end(settings: Settings, transaction_id: str, expires_at: datetime) -> None:
    engine = create_engine(settings.database_url_for("order"))
    try:
        async with engine.begin() as connection:
            await connection.execute(
                update(pending_transactions)
                .where(pending_transactions.c.id == transaction_id)
                .values(expires_at=expires_at)
            )
    finally:
        await engine.dispose()


async def _end_cart(settings: Settings, order_id: str) -> None:
    engine = create_engine(settings.database_url_for("order"))
    try:
        async with engine.begin() as connection:
            await connection.execute(
                update(orders_table)
                .where(orders_table.c.id == order_id)
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
    finally:
        await engine.dispose()


async def _checked_out_events_written(settings: Settings, order_id: str) -> int:
    """How many OrderCheckedOut the order service ever wrote for the order (its outbox)."""
    engine = create_engine(settings.database_url_for("order"))
    try:
        async with engine.connect() as connection:
            count = await connection.scalar(
                select(func.count())
                .select_from(outbox)
                .where(outbox.c.key == order_id)
                .where(outbox.c.headers["type"].astext == "OrderCheckedOut")
            )
            return int(count or 0)
    finally:
        await engine.dispose()
