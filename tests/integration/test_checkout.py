"""The seed's "Paying with Store Credit" over real Kafka and PostgreSQL: store credits
applied to an order of 54.95 (30.00 of items, 24.95 shipping), the amount still due,
checkout with store credit only and with a card for the rest."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer

from contracts.order import (
    AddProductLineItem,
    ApplyStoreCredit,
    CheckoutOrder,
    CreateOrder,
    ExternalPayment,
    SetOrderCharges,
)
from contracts.store_credit import CreateStoreCredit
from services.ledger.app import definition as ledger
from services.order.app import definition as order_service
from services.store_credit.app import definition as store_credit
from shared.runtime.settings import Settings
from tests.integration.conftest import running
from tests.integration.test_store_credit_rules import balance_copied
from tests.kafka_tools import has_type
from tests.order_client import Orders, customer, make_orders
from tests.random_refs import random_id
from tests.store_credit_client import StoreCredit, make_store_credit


async def issue(
    client: StoreCredit, settings: Settings, owner: str, amount: int, **fields: Any
) -> dict[str, Any]:
    """A store credit of ``amount`` cents for ``owner``; its result (with the code)."""
    created = CreateStoreCredit(
        store_credit_id=random_id("sc"),
        name=f"Credit {amount}",
        amount=amount,
        currency="USD",
        customer_id=owner,
        **fields,
    )
    result = await client.do(owner, created)
    assert result["status"] == "accepted", result
    await balance_copied(settings, created.store_credit_id, amount)
    return result["produced"]


async def seed_order(orders: Orders, owner: str) -> str:
    """The seed's order: two tickets at 15.00, shipping 24.95, no tax: 54.95."""
    order_id = random_id("ord")
    assert (await orders.do(CreateOrder(order_id=order_id, customer_id=owner, currency="USD")))[
        "status"
    ] == "accepted"
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


async def test_two_store_credits_pay_an_order_and_a_card_pays_the_rest(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    async with running(ledger, store_credit, order_service, settings=isolated):
        credits = await make_store_credit(producer, isolated, watch)
        orders = await make_orders(producer, isolated, watch)
        owner = random_id("cust")
        small = await issue(credits, isolated, owner, 3_000)
        large = await issue(credits, isolated, owner, 159_000)

        # Store credit only: 30.00 from the first, 24.95 from the second.
        order_id = await seed_order(orders, owner)
        shopper = customer(owner)
        by_code = ApplyStoreCredit(order_id=order_id, application_id="a1", code=small["code"])
        assert (await orders.do(by_code, shopper))["status"] == "accepted"
        await orders.credits_settled(order_id, 1)
        by_token = ApplyStoreCredit(order_id=order_id, application_id="a2", token=large["token"])
        assert (await orders.do(by_token, shopper))["status"] == "accepted"
        order = await orders.credits_settled(order_id, 2)
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
        second = await seed_order(orders, owner)
        apply = ApplyStoreCredit(
            order_id=second, application_id="b1", store_credit_id=large["store_credit_id"]
        )
        assert (await orders.do(apply, shopper))["status"] == "accepted"
        order = await orders.credits_settled(second, 1)
        assert order["applied_credits"][0]["held"] == 5_495
        partial = ApplyStoreCredit(order_id=second, application_id="b2", code=small["code"])
        refused = await orders.do(partial, shopper)
        assert refused["code"] == "nothing_due"
        short = await orders.do(
            CheckoutOrder(
                order_id=second,
                payment=ExternalPayment(
                    provider_reference_name="Stripe-USD", token="tok_1", amount=100
                ),
            )
        )
        assert short["code"] == "payment_exceeds_amount_due"
        assert (await orders.do(CheckoutOrder(order_id=second)))["status"] == "accepted"

        third = await seed_order(orders, owner)
        empty = ApplyStoreCredit(order_id=third, application_id="c1", code=small["code"])
        assert (await orders.do(empty, shopper))["status"] == "accepted"
        order = await orders.credits_settled(third, 1)
        assert (
            order["applied_credits"][0]["status"],
            order["applied_credits"][0]["refusal_code"],
        ) == ("refused", "no_balance")
        uncovered = await orders.do(CheckoutOrder(order_id=third), shopper)
        assert uncovered["code"] == "amount_not_covered"
        card = ExternalPayment(
            provider_reference_name="Stripe-USD", token="tok_1DFSimLjwcuEFMMJEh7zFLrq", amount=5_495
        )
        by_customer = await orders.do(CheckoutOrder(order_id=third, payment=card), shopper)
        assert by_customer["code"] == "forbidden"  # payments are reported by the shop
        paid = await orders.do(CheckoutOrder(order_id=third, payment=card))
        assert paid["status"] == "accepted", paid
        assert (paid["produced"]["paid_externally"], paid["produced"]["amount_due"]) == (
            5_495,
            5_495,
        )
