"""The seed's "Paying with Store Credit" over real Kafka and PostgreSQL: store credits
applied to an order of 54.95 (30.00 of items, 24.95 shipping), the amount still due,
checkout with store credit only and with a card for the rest."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer

from contracts.order import ApplyStoreCredit, CheckoutOrder
from shared.runtime.settings import Settings
from tests.integration.shop import card, shop_running
from tests.kafka_tools import has_type
from tests.sealed import sealed


async def test_two_store_credits_pay_an_order_and_a_card_pays_the_rest(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    async with shop_running(producer, isolated, watch) as shop:
        orders, shopper = shop.orders, shop.shopper
        small = await shop.issue(3_000)
        large = await shop.issue(159_000)

        # Store credit only: 30.00 from the first, 24.95 from the second.
        order_id = await shop.seed_order()
        await shop.apply_credit(order_id, "a1", code=small["code"])
        order = await shop.apply_credit(order_id, "a2", 2, token=large["token"])
        assert [(c["status"], c["held"], c["code"]) for c in order["applied_credits"]] == [
            ("held", 3_000, "******" + small["code"][-4:]),
            ("held", 2_495, "******" + large["code"][-4:]),
        ]
        totals = order["totals"]
        assert (totals["total"], totals["store_credit_applied"], totals["amount_due"]) == (
            5_495,
            5_495,
            0,
        )
        checkout = await orders.do(CheckoutOrder(order_id=order_id), shopper)
        assert checkout["status"] == "accepted", checkout
        [checked_out] = await orders.watcher.wait_for(
            has_type("OrderCheckedOut", order_id=order_id)
        )
        holds = checked_out.json()["payload"]["holds"]
        assert [(h["held"], h["capture"]) for h in holds] == [(-3_000, -3_000), (-2_495, -2_495)]
        again = await orders.do(CheckoutOrder(order_id=order_id), shopper)
        assert again["code"] == "order_not_open"

        # The first credit is spent (held in full): the next order gets 1,565.05 from the
        # second and pays nothing more; a third order pays the rest by card.
        second = await shop.seed_order()
        order = await shop.apply_credit(second, "b1", store_credit_id=large["store_credit_id"])
        assert order["applied_credits"][0]["held"] == 5_495
        partial = ApplyStoreCredit(
            order_id=second, application_id="b2", sealed_code=sealed(small["code"], shopper)
        )
        refused = await orders.do(partial, shopper)
        assert refused["code"] == "nothing_due"
        short = await orders.do(CheckoutOrder(order_id=second, payment=card(100, "tok_1")))
        assert short["code"] == "payment_exceeds_amount_due"
        assert (await orders.do(CheckoutOrder(order_id=second)))["status"] == "accepted"

        third = await shop.seed_order()
        order = await shop.apply_credit(third, "c1", code=small["code"])
        assert (
            order["applied_credits"][0]["status"],
            order["applied_credits"][0]["refusal_code"],
        ) == ("refused", "no_balance")
        uncovered = await orders.do(CheckoutOrder(order_id=third), shopper)
        assert uncovered["code"] == "amount_not_covered"
        paying = CheckoutOrder(order_id=third, payment=card(5_495, "tok_1DFSimLjwcuEFMMJEh7zFLrq"))
        by_customer = await orders.do(paying, shopper)
        assert by_customer["code"] == "forbidden"  # payments are reported by the shop
        paid = await orders.do(paying)
        assert paid["status"] == "accepted", paid
        assert (paid["produced"]["paid_externally"], paid["produced"]["amount_due"]) == (
            5_495,
            5_495,
        )
