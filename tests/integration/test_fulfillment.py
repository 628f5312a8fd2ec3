"""Fulfillment over real Kafka and PostgreSQL, with the four services: an order paid
with points, a store credit and a card becomes fulfillment items; the auto items
commit points, capture the hold, deposit and credit earned points, once; a manual
item is fulfilled by an admin; returns give back what paid for the item."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer

from contracts.envelope import Actor, ActorKind
from contracts.fulfillment import FulfillItem, GetFulfillment, ReturnItem
from contracts.order import AddDepositLineItem, CheckoutOrder, SetOrderCharges
from shared.runtime.settings import Settings
from tests.fulfillment_client import OPERATOR, ask_fulfillment
from tests.integration.shop import ALL_SERVICES, Shop, card, mug, shop_running
from tests.random_refs import random_id


async def mixed_order(shop: Shop, credit: dict[str, Any]) -> str:
    """Two mugs earning 150 points each, a 500-point gift deposit, 5.00 shipping;
    paid with 1,000 points, the 20.00 store credit and 10.00 by card."""
    orders = shop.orders
    order_id = await shop.open_order()
    spend = await shop.spend(1_000)
    lines = [
        mug(order_id, "mugs", unit_price=1_500, quantity=2, points_per_unit=150),
        AddDepositLineItem(
            order_id=order_id,
            line_item_id="gift",
            sku="GIFT-5",
            name="500 points",
            unit_price=500,
            account_id=shop.loyalty,
            points_per_unit=500,
        ),
        SetOrderCharges(order_id=order_id, shipping=500),
    ]
    for line in lines:
        assert (await orders.do(line))["status"] == "accepted"
    await shop.add_points(order_id, spend)
    order = await shop.apply_credit(order_id, "a", token=credit["token"])
    assert order["totals"]["amount_due"] == 1_000, order["totals"]
    checkout = CheckoutOrder(order_id=order_id, payment=card(1_000))
    assert (await orders.do(checkout))["status"] == "accepted"
    return order_id


async def test_an_order_is_fulfilled_once_and_its_returns_give_back_what_paid_for_them(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    async with shop_running(producer, isolated, watch, ALL_SERVICES, loyalty=10_000) as shop:
        credit = await shop.issue(2_000)
        credit_account = credit["ledger_account_id"]
        order_id = await mixed_order(shop, credit)

        done = await shop.items.answered(order_id)
        kinds = {(i["kind"], i["line_item_id"]): i for i in done["items"]}
        assert {k: (i["status"], i["amount"]) for k, i in kinds.items()} == {
            ("manual", "mugs"): ("pending", None),
            ("points_earned", "mugs"): ("fulfilled", 300),
            ("deposit", "gift"): ("fulfilled", 500),
            ("points_spent", "points"): ("fulfilled", -1_000),
            ("store_credit", None): ("fulfilled", -2_000),
        }
        # 10,000 - 1,000 spent + 300 earned + 500 deposited; the credit is used up.
        await shop.balance_is(shop.loyalty, 9_800)
        await shop.balance_is(credit_account, 0)

        found = await ask_fulfillment(isolated, GetFulfillment(order_id=order_id), shop.shopper)
        assert found.type == "FulfillmentFound", found.payload
        assert found.payload["fulfillment"]["items"] == done["items"]
        for stranger in (Actor(kind=ActorKind.CUSTOMER, id=random_id("cust")), None):
            missing = order_id if stranger is not None else random_id("ord")
            refused = await ask_fulfillment(
                isolated, GetFulfillment(order_id=missing), stranger or OPERATOR
            )
            assert refused.payload["code"] == "fulfillment_not_found", refused.payload

        mugs = kinds[("manual", "mugs")]["fulfillment_item_id"]
        auto = kinds[("deposit", "gift")]["fulfillment_item_id"]
        ship = FulfillItem(order_id=order_id, fulfillment_item_id=mugs)
        refusals = [
            (FulfillItem(order_id=order_id, fulfillment_item_id=auto), "not_a_manual_item"),
            (
                FulfillItem(order_id=order_id, fulfillment_item_id="fi-none"),
                "fulfillment_item_not_found",
            ),
            (
                ReturnItem(order_id=order_id, return_id="early", line_item_id="mugs"),
                "item_not_fulfilled",
            ),
        ]
        for refused_command, code in refusals:
            refused = await shop.items.do(refused_command)
            assert (refused["status"], refused["code"]) == ("rejected", code), refused
        unknown = await shop.items.do(FulfillItem(order_id="ord-none", fulfillment_item_id=mugs))
        assert (unknown["code"], unknown["retryable"]) == ("order_not_known", True)
        by_customer = await shop.items.do(ship, shop.shopper)
        assert by_customer["code"] == "forbidden"
        assert (await shop.items.do(ship))["status"] == "accepted"
        shipped = await shop.items.when(
            order_id,
            lambda f: any(i["status"] == "fulfilled" and i["kind"] == "manual" for i in f["items"]),
        )
        assert all(i["status"] == "fulfilled" for i in shipped["items"])

        # One mug back: of its 15.00 (3/8 of the 40.00 chargeable), 7.50 of the store
        # credit and 3.75 of the card; its 150 earned points are taken back.
        first = ReturnItem(order_id=order_id, return_id="r1", line_item_id="mugs")
        key = random_id("return")
        answer = await shop.items.do(first, key=key)
        assert answer["status"] == "accepted", answer
        again = await shop.items.do(first, key=key)
        assert again["produced"] == answer["produced"]  # the same key: the first answer
        twice = await shop.items.do(first)
        assert twice["code"] == "return_exists"
        too_many = ReturnItem(order_id=order_id, return_id="r9", line_item_id="mugs", quantity=2)
        assert (await shop.items.do(too_many))["code"] == "return_exceeds_quantity"
        returned = await shop.items.returned(order_id, "r1")
        assert returned["status"] == "completed", returned
        assert [(p["kind"], p["amount"], p["status"]) for p in returned["parts"]] == [
            ("restore_store_credit", 750, "done"),
            ("refund_due", 375, "done"),
            ("reverse_points_earned", 150, "done"),
        ]
        await shop.balance_is(credit_account, 750)

        # The other mug gives back as much again; all units never more than the line's share.
        second = ReturnItem(order_id=order_id, return_id="r2", line_item_id="mugs")
        assert (await shop.items.do(second))["status"] == "accepted"
        returned = await shop.items.returned(order_id, "r2")
        assert [(p["kind"], p["amount"]) for p in returned["parts"]] == [
            ("restore_store_credit", 750),
            ("refund_due", 375),
            ("reverse_points_earned", 150),
        ]
        await shop.balance_is(credit_account, 1_500)

        # The point line item back: its 1,000 points are reversed.
        points_back = ReturnItem(order_id=order_id, return_id="r3", line_item_id="points")
        assert (await shop.items.do(points_back))["status"] == "accepted"
        returned = await shop.items.returned(order_id, "r3")
        assert [(p["kind"], p["amount"]) for p in returned["parts"]] == [
            ("reverse_points_spent", 1_000)
        ]
        await shop.balance_is(shop.loyalty, 9_800 - 300 + 1_000)
