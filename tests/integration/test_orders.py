"""Orders over real Kafka and PostgreSQL: paying with points (the point-account seed's
spend flow), earning and depositing points, removing items and credits, a balance
owing, the order's refusals, two carts racing for one store credit, abandoned carts."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from aiokafka import AIOKafkaProducer

from contracts.ledger import PointTransactionStatus
from contracts.order import (
    AddDepositLineItem,
    AddPointTransactionLineItem,
    AddProductLineItem,
    ApplyStoreCredit,
    CancelOrder,
    CheckoutOrder,
    CreateOrder,
    GetOrder,
    RemoveLineItem,
    RemoveStoreCredit,
    SetOrderCharges,
)
from contracts.store_credit import CreatePointAccount
from contracts.topics import ORDER_QUERIES, ORDER_QUERY_REPLIES
from shared.runtime.settings import Settings
from tests.integration.conftest import running
from tests.integration.shop import SHOP_SERVICES, mug, shop_running
from tests.kafka_tools import ask, has_type
from tests.order_client import customer
from tests.random_refs import random_id


async def get_order(settings: Settings, order_id: str, actor: Any) -> Any:
    return await ask(
        settings, ORDER_QUERIES, ORDER_QUERY_REPLIES, order_id, GetOrder(order_id=order_id), actor
    )


async def test_paying_with_points_earning_and_depositing(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    async with shop_running(producer, isolated, watch) as shop:
        accounts, the_ledger, orders = shop.accounts, shop.ledger, shop.orders
        owner, shopper = shop.owner, shop.shopper
        loyalty, credit = random_id("pa"), random_id("pa")
        for account_id, kind, unit, rate in (
            (loyalty, "loyalty", "points:loyalty", "0.0033"),
            (credit, "store_credit", "points:credit", "0.01"),
        ):
            made = CreatePointAccount(
                account_id=account_id,
                customer_id=owner,
                name=kind,
                kind=kind,
                unit=unit,
                exchange_rates={"USD": Decimal(rate)},
            )
            assert (await accounts.do(owner, made))["status"] == "accepted"
            await accounts.watcher.wait_for(has_type("BalanceChanged", account_id=account_id))
        deposit = the_ledger.post(loyalty, 10_000)
        assert (await the_ledger.do(loyalty, deposit))["status"] == "accepted"

        # The seed's spend: the customer holds points, then a line item targets them.
        spend = the_ledger.post(loyalty, -3_001, "spend", status=PointTransactionStatus.PENDING)
        assert (await the_ledger.do(loyalty, spend, shopper))["status"] == "accepted"
        order_id = await shop.open_order()
        line = AddPointTransactionLineItem(
            order_id=order_id, line_item_id="points", transaction_id=spend.transaction_id
        )
        added = await orders.do(line, shopper, key=random_id("line"))
        for _ in range(50):  # the ledger's event may not have reached the order service yet
            if added["status"] == "accepted" or not added.get("retryable"):
                break
            await asyncio.sleep(0.1)
            added = await orders.do(line, shopper)
        assert added["status"] == "accepted", added
        assert added["produced"]["amount"] == -990  # 3001 x 0.0033 = 9.9033 USD, toward zero
        again = await orders.do(
            AddPointTransactionLineItem(
                order_id=order_id, line_item_id="again", transaction_id=spend.transaction_id
            ),
            shopper,
        )
        assert again["code"] == "transaction_already_targeted"

        product = mug(order_id, unit_price=1_500, quantity=2, points_per_unit=150)
        gift = AddDepositLineItem(
            order_id=order_id,
            line_item_id="gift",
            sku="GIFT-10",
            name="10.00 of credit",
            unit_price=1_000,
            account_id=credit,
            points_per_unit=1_000,
        )
        for item in (product, gift):
            assert (await orders.do(item))["status"] == "accepted"
        assert (await orders.do(product.model_copy(update={"unit_price": 1}), shopper))[
            "code"
        ] == "forbidden"  # a customer never sets a price
        view = await get_order(isolated, order_id, shopper)
        totals = view.payload["order"]["totals"]
        assert (totals["subtotal"], totals["points_value"], totals["total"]) == (4_000, -990, 3_010)
        stranger = await get_order(isolated, order_id, customer(random_id("cust")))
        assert stranger.payload["code"] == "order_not_found"

        paid = await orders.do(
            CheckoutOrder(
                order_id=order_id,
                payment={
                    "provider_reference_name": "Stripe-USD",
                    "token": "tok_9secret",
                    "amount": 3_010,
                    "reference": "ch_42",
                },
            )
        )
        assert paid["status"] == "accepted", paid
        [event] = await orders.watcher.wait_for(has_type("OrderCheckedOut", order_id=order_id))
        out = event.json()["payload"]
        # the payment token stays with the order: events show the reference instead
        assert out["payment"] == {
            "provider_reference_name": "Stripe-USD",
            "amount": 3_010,
            "reference": "ch_42",
        }
        assert b"tok_9secret" not in event.value
        assert out["pending_spends"] == [
            {
                "line_item_id": "points",
                "account_id": loyalty,
                "transaction_id": spend.transaction_id,
                "amount": -3_001,
            }
        ]
        assert [(p["account_id"], p["points"]) for p in out["points_earned"]] == [(loyalty, 300)]
        assert [(p["account_id"], p["points"]) for p in out["deposits"]] == [(credit, 1_000)]

        # Removing a point line item voids its pending transaction.
        other_spend = spend.model_copy(update={"transaction_id": random_id("tx"), "amount": -100})
        assert (await the_ledger.do(loyalty, other_spend, shopper))["status"] == "accepted"
        second = await shop.open_order()
        line = AddPointTransactionLineItem(
            order_id=second, line_item_id="p", transaction_id=other_spend.transaction_id
        )
        for _ in range(50):
            added = await orders.do(line, shopper)
            if added["status"] == "accepted":
                break
            await asyncio.sleep(0.1)
        assert (await orders.do(RemoveLineItem(order_id=second, line_item_id="p"), shopper))[
            "status"
        ] == "accepted"
        await the_ledger.watcher.wait_for(
            has_type("PointTransactionVoided", transaction_id=other_spend.transaction_id)
        )


async def test_order_refusals_and_a_balance_owing(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    async with shop_running(producer, isolated, watch) as shop:
        orders, owner, shopper = shop.orders, shop.owner, shop.shopper
        owing = await shop.issue(2_000, allow_balance_owing=True)
        order_id = await shop.seed_order()
        refusals = [
            (CreateOrder(order_id=order_id, customer_id=owner, currency="USD"), "order_exists"),
            (
                CreateOrder(order_id=random_id("ord"), customer_id="someone-else", currency="USD"),
                "forbidden",
            ),
            (RemoveLineItem(order_id=order_id, line_item_id="nope"), "line_item_not_found"),
            (SetOrderCharges(order_id=order_id, shipping=0), "forbidden"),
            (RemoveStoreCredit(order_id=order_id, application_id="nope"), "application_not_found"),
            (CheckoutOrder(order_id=order_id), "amount_not_covered"),
            (CheckoutOrder(order_id=random_id("ord")), "order_not_found"),
            (
                AddPointTransactionLineItem(
                    order_id=order_id, line_item_id="x", transaction_id=random_id("tx")
                ),
                "transaction_not_found",
            ),
        ]
        for payload, code in refusals:
            refused = await orders.do(payload, shopper)
            assert (refused["status"], refused["code"]) == ("rejected", code), (payload, refused)
        assert refused["retryable"] is True  # not known *yet*: the same key may be retried

        await shop.apply_credit(order_id, "o1", token=owing["token"])
        order = await shop.apply_credit(order_id, "o2", 2, token=owing["token"])
        assert [(c["status"], c["refusal_code"]) for c in order["applied_credits"]] == [
            ("held", None),
            ("refused", "no_balance"),  # all of it is held by the first application
        ]
        done = await orders.do(CheckoutOrder(order_id=order_id), shopper)
        assert done["status"] == "accepted", done
        assert (done["produced"]["store_credit_applied"], done["produced"]["balance_owing"]) == (
            2_000,
            3_495,
        )
        closed = await orders.do(
            AddProductLineItem(
                order_id=order_id, line_item_id="late", sku="X", name="X", unit_price=1
            )
        )
        assert closed["code"] == "order_not_open"

        # Removing a held credit voids its hold; cancelling releases the rest.
        other = await shop.seed_order()
        small = await shop.issue(1_000)
        await shop.apply_credit(other, "r1", code=small["code"])
        assert (await orders.do(RemoveStoreCredit(order_id=other, application_id="r1"), shopper))[
            "status"
        ] == "accepted"
        removed = await orders.when(
            other, lambda o: [c["status"] for c in o["applied_credits"]] == ["removed"]
        )
        assert removed["totals"]["amount_due"] == 5_495
        await shop.accounts.watcher.wait_for(
            has_type("BalanceChanged", holds=0, balance=1_000, available=1_000)
        )
        assert (await orders.do(CancelOrder(order_id=other), shopper))["status"] == "accepted"
        assert (await orders.do(CancelOrder(order_id=other), shopper))["code"] == "order_not_open"


async def test_two_carts_racing_for_one_store_credit_never_hold_more_than_it_has(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    async with shop_running(producer, isolated, watch) as shop:
        orders, shopper = shop.orders, shop.shopper
        shared_credit = await shop.issue(6_000)
        carts = [await shop.seed_order() for _ in range(4)]
        applied = await asyncio.gather(
            *(
                orders.do(
                    ApplyStoreCredit(
                        order_id=cart, application_id="race", token=shared_credit["token"]
                    ),
                    shopper,
                )
                for cart in carts
            )
        )
        assert all(a["status"] == "accepted" for a in applied)
        settled = [await orders.credits_settled(cart, 1) for cart in carts]
        held = [
            o["applied_credits"][0]["held"]
            for o in settled
            if o["applied_credits"][0]["status"] == "held"
        ]
        assert sum(held) <= 6_000
        assert held, "at least one cart holds the credit"
        refused = [
            o["applied_credits"][0]["refusal_code"]
            for o in settled
            if o["applied_credits"][0]["status"] == "refused"
        ]
        assert set(refused) <= {"insufficient_funds", "no_balance"}
        checked_out = [await orders.do(CheckoutOrder(order_id=cart), shopper) for cart in carts]
        assert (
            sum(
                c["produced"]["store_credit_applied"]
                for c in checked_out
                if c["status"] == "accepted"
            )
            <= 6_000
        )


async def test_an_abandoned_cart_releases_its_holds(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    short_lived = isolated.model_copy(
        update={"cart_ttl_s": 60, "checkout_margin_s": 0, "cart_sweep_ms": 100}
    )
    async with shop_running(producer, short_lived, watch) as shop:
        credit = await shop.issue(9_000)
        order_id = await shop.seed_order()
        order = await shop.apply_credit(order_id, "a", token=credit["token"])
        assert order["applied_credits"][0]["status"] == "held"
    # Sixty seconds are long for a test: move the cart's end instead of waiting for it.
    from sqlalchemy import update

    from services.order.db import orders as orders_table
    from shared.runtime.db import create_engine

    engine = create_engine(short_lived.database_url_for("order"))
    async with engine.begin() as connection:
        await connection.execute(
            update(orders_table)
            .where(orders_table.c.id == order_id)
            .values(expires_at=orders_table.c.created_at)
        )
    await engine.dispose()
    async with running(*SHOP_SERVICES, settings=short_lived):
        abandoned = await shop.orders.when(order_id, lambda o: o["status"] == "abandoned")
        assert abandoned["applied_credits"][0]["status"] == "removed"
        await shop.accounts.watcher.wait_for(has_type("BalanceChanged", balance=9_000, holds=0))
