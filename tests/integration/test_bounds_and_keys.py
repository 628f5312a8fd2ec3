"""Bounds, ids and idempotency keys, over real Kafka and PostgreSQL: ledger account ids
never collide across owners and a stranger's hold never pays; a maximal order is
fulfilled, and past its caps or at the edges of time, money and rates a command is
refused with a code (never ``internal_error``); concurrent retries of one key on two
order instances give one result; keys are the actor's own; the contract's promises
(``return_exists``, ``retryable`` exactly when the same key can succeed) hold."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from contracts.fulfillment import FulfillItem, ReturnItem
from contracts.ledger import OpenLedgerAccount
from contracts.order import (
    AddPointTransactionLineItem,
    AddProductLineItem,
    ApplyStoreCredit,
    CheckoutOrder,
    CreateOrder,
    EarnPoints,
)
from contracts.store_credit import CreatePointAccount
from contracts.topics import LEDGER_COMMANDS, ORDER_COMMANDS
from services.ledger.app import definition as ledger
from services.order.app import definition as order_service
from services.order.db import pending_transactions
from services.order.domain import MAX_LINE_ITEMS
from services.store_credit.accounts import template_account_id
from services.store_credit.app import definition as store_credit
from shared.runtime.settings import Settings
from tests.copies import copy_reaches
from tests.integration.conftest import running
from tests.integration.shop import (
    ALL_SERVICES,
    card,
    pending,
    point_account,
    settled,
    shop_running,
    the_shop,
)
from tests.kafka_tools import command, has_type, is_result_of, send, send_envelope
from tests.order_client import customer
from tests.random_refs import random_id


async def test_ledger_account_ids_never_collide_across_owners(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    """An admin cannot give a customer an account with the id of another's store credit,
    a template account or a system account; and a customer's cart never takes a hold
    that is not on their own account, whatever the ids look like."""
    async with shop_running(producer, isolated, watch) as shop:
        victim = await the_shop(producer, isolated, watch)
        gift = await victim.issue(5_000)
        for taken in (
            gift["ledger_account_id"],
            template_account_id(victim.owner, "tpl-loyalty"),
            "system:issuance:USD",
        ):
            forged = CreatePointAccount(
                account_id=taken,
                customer_id=shop.owner,
                name="Mine",
                kind="store_credit",
                unit="USD",
                exchange_rates={"USD": Decimal("0.01")},
            )
            refused = await shop.accounts.do(shop.owner, forged)
            assert refused["code"] == "reserved_account_id", refused
        opened = await shop.ledger.do(
            "system:issuance:USD", OpenLedgerAccount(account_id="system:issuance:USD", unit="USD")
        )
        assert opened["code"] == "reserved_account_id", opened

        # The victim's hold, in the attacker's cart: refused, and not for a while only.
        victim_order = await victim.seed_order()
        held = await victim.apply_credit(
            victim_order, "a1", store_credit_id=gift["store_credit_id"]
        )
        hold_id = held["applied_credits"][0]["hold_transaction_id"]
        await copy_reaches(isolated, "order", pending_transactions.c.status, hold_id, "pending", 30)
        attacker_order = await shop.seed_order()
        steal = AddPointTransactionLineItem(
            order_id=attacker_order, line_item_id="stolen", transaction_id=hold_id
        )
        refused = await shop.orders.do(steal, shop.shopper)
        # Another's hold is, to this order, one it does not know of: as if there were none.
        assert refused["code"] == "transaction_not_found", refused


def _long(prefix: str, length: int) -> str:
    return (prefix + "x" * length)[:length]


async def test_a_maximal_order_is_fulfilled_and_every_edge_is_refused_with_a_code(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    async with shop_running(producer, isolated, watch, ALL_SERVICES, loyalty=10_000) as shop:
        order_id = await shop.open_order()
        lines = [
            AddProductLineItem(
                order_id=order_id,
                line_item_id=_long(f"line-{n}-", 128),
                sku=_long(f"SKU-{n}-", 200),
                name=_long(f"Product {n} ", 200),
                unit_price=10**15 // MAX_LINE_ITEMS,
                quantity=1,
                earn=EarnPoints(unit="points:loyalty", points_per_unit=10**12),
            )
            for n in range(MAX_LINE_ITEMS)
        ]
        for line in lines:
            added = await shop.orders.do(line)
            assert added["status"] == "accepted", added
        one_more = lines[0].model_copy(update={"line_item_id": "one-more"})
        assert (await shop.orders.do(one_more))["code"] == "too_many_line_items"
        checkout = await shop.orders.do(CheckoutOrder(order_id=order_id, payment=card(10**15)))
        assert checkout["produced"]["status"] == "checked_out", checkout
        done = await shop.items.answered(order_id)
        assert len(done["items"]) == 2 * MAX_LINE_ITEMS
        assert all(i["status"] in ("pending", "fulfilled") for i in done["items"]), done
        ship = FulfillItem(
            order_id=order_id, fulfillment_item_id=done["items"][0]["fulfillment_item_id"]
        )
        assert (await shop.items.do(ship))["status"] == "accepted"

        other = await shop.open_order()
        huge = AddProductLineItem(
            order_id=other,
            line_item_id="huge",
            sku="H",
            name="Huge",
            unit_price=10**15,
            quantity=10**5,
        )
        assert (await shop.orders.do(huge))["code"] == "amount_too_large"
        greedy = huge.model_copy(
            update={
                "unit_price": 1,
                "earn": EarnPoints(unit="points:loyalty", points_per_unit=2**62),
                "quantity": 4,
            }
        )
        assert (await shop.orders.do(greedy))["code"] == "amount_too_large"

        # A rate at the edge of what a contract takes: one point worth 10^17 dollars.
        rich = await point_account(
            shop.accounts, shop.owner, {"USD": "999999999999999999"}, "points:rich"
        )
        deposit = shop.ledger.post(rich, 10)
        assert (await shop.ledger.do(rich, deposit))["status"] == "accepted"
        spend = await pending(shop.ledger, rich, -1, shop.shopper)
        add = AddPointTransactionLineItem(order_id=other, line_item_id="rich", transaction_id=spend)
        assert (await settled(lambda: shop.orders.do(add, shop.shopper)))["code"] == (
            "amount_too_large"
        )

        # A time at the edge of the calendar: refused as invalid, answered, not a crash.
        envelope = command(shop.ledger.post(shop.loyalty, -1, "spend"), actor=shop.shopper)
        body = json.loads(envelope.model_dump_json())
        body["payload"].update(status="pending", expires_at="9999-12-31T23:59:59-14:00")
        await send(
            producer,
            isolated.topic(LEDGER_COMMANDS),
            shop.loyalty,
            json.dumps(body).encode(),
            {"type": "CreatePointTransaction"},
        )
        [answer] = await shop.ledger.watcher.wait_for(is_result_of(envelope))
        assert answer.json()["payload"]["code"] == "invalid_command"


@pytest.mark.parametrize("batch_size", [1, 500])
async def test_concurrent_retries_of_one_key_give_one_result(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any, batch_size: int
) -> None:
    """A retryable refusal, then twenty retries with its key at once, spread over two
    order instances: one is handled afresh, every other one gets its answer (one at a
    time, without the compare-and-set, 19 of 20 stored a rejection over the line made)."""
    instances = isolated.model_copy(update={"batch_size": batch_size})
    async with (
        running(ledger, store_credit, settings=isolated),
        running(order_service, order_service, settings=instances),
    ):
        shop = await the_shop(producer, isolated, watch)
        await shop.open_loyalty(10_000)
        order_id = await shop.mug_cart(2_000)
        transaction_id = random_id("tx")
        add = AddPointTransactionLineItem(
            order_id=order_id, line_item_id="points", transaction_id=transaction_id
        )
        key = random_id("key")
        first = await shop.orders.do(add, shop.shopper, key=key)
        assert (first["code"], first["retryable"]) == ("transaction_not_found", True)
        spend = shop.ledger.post(
            shop.loyalty, -1_000, "spend", status="pending", transaction_id=transaction_id
        )
        assert (await shop.ledger.do(shop.loyalty, spend, shop.shopper))["status"] == "accepted"
        await copy_reaches(
            isolated, "order", pending_transactions.c.status, transaction_id, "pending", 30
        )
        retries = [command(add, actor=shop.shopper, key=key) for _ in range(20)]
        topic = isolated.topic(ORDER_COMMANDS)
        await asyncio.gather(
            *(send_envelope(producer, topic, str(uuid.uuid4()), e) for e in retries)
        )
        answers = [await shop.orders.result_of(retry) for retry in retries]
        outcomes = Counter(
            (a["status"], a["code"], json.dumps(a["produced"], sort_keys=True)) for a in answers
        )
        assert len(outcomes) == 1, outcomes
        [(status, code, _)] = outcomes
        assert (status, code) == ("accepted", None), answers
        later = await shop.orders.do(add, shop.shopper, key=key)
        assert (later["status"], later["command_id"]) == ("accepted", answers[0]["command_id"])


async def test_idempotency_keys_are_the_actors_own(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    async with shop_running(producer, isolated, watch) as shop:
        first, second = random_id("cust"), random_id("cust")
        key = random_id("shared-key")
        mine = CreateOrder(order_id=random_id("ord"), customer_id=first, currency="USD")
        theirs = CreateOrder(order_id=random_id("ord"), customer_id=second, currency="USD")
        a = await shop.orders.do(mine, customer(first), key=key)
        b = await shop.orders.do(theirs, customer(second), key=key)
        assert a["status"] == b["status"] == "accepted", (a, b)
        assert b["produced"]["order_id"] == theirs.order_id  # not the first one's answer
        again = await shop.orders.do(mine, customer(first), key=key)
        assert (again["status"], again["command_id"]) == ("accepted", a["command_id"])
        other = mine.model_copy(update={"order_id": random_id("ord")})
        reused = await shop.orders.do(other, customer(first), key=key)
        assert reused["code"] == "idempotency_key_reused"
        assert str(b["command_id"]) not in reused["reason"]  # only the actor's own message


async def test_retryable_is_true_exactly_when_the_same_key_can_succeed(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    async with shop_running(producer, isolated, watch, ALL_SERVICES, loyalty=10_000) as shop:
        # A committed deposit is no spend: refused for good, not "not found (yet)".
        order_id = await shop.mug_cart(2_000)
        deposit = shop.ledger.post(shop.loyalty, 500)
        assert (await shop.ledger.do(shop.loyalty, deposit))["status"] == "accepted"
        add = AddPointTransactionLineItem(
            order_id=order_id, line_item_id="points", transaction_id=deposit.transaction_id
        )
        refused = await settled(lambda: shop.orders.do(add, shop.shopper))
        assert (refused["code"], refused["retryable"]) == ("not_a_spend", False)

        # A checkout right after ApplyStoreCredit waits for the hold: retryable, and the
        # same key succeeds once it is held.
        credit = await shop.issue(5_000)
        apply = ApplyStoreCredit(
            order_id=order_id, application_id="a1", store_credit_id=credit["store_credit_id"]
        )
        key = random_id("checkout")
        assert (await shop.orders.do(apply, shop.shopper))["status"] == "accepted"
        early = await shop.orders.do(CheckoutOrder(order_id=order_id), shop.shopper, key=key)
        if early["status"] == "rejected":
            assert (early["code"], early["retryable"]) == ("store_credit_pending", True)
            await shop.orders.credits_settled(order_id, 1)
            late = await shop.orders.do(CheckoutOrder(order_id=order_id), shop.shopper, key=key)
            assert late["status"] == "accepted", late
        await shop.orders.watcher.wait_for(has_type("OrderCheckedOut", order_id=order_id))

        # The same return id under a new key: return_exists, whatever its quantity.
        done = await shop.items.answered(order_id)
        [mug] = [i for i in done["items"] if i["kind"] == "manual"]
        ship = FulfillItem(order_id=order_id, fulfillment_item_id=mug["fulfillment_item_id"])
        assert (await shop.items.do(ship))["status"] == "accepted"
        back = ReturnItem(order_id=order_id, return_id="r1", line_item_id="mug")
        assert (await shop.items.do(back))["status"] == "accepted"
        twice = await shop.items.do(back.model_copy(update={"quantity": 5}))
        assert twice["code"] == "return_exists", twice
