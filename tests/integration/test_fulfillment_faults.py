"""Fulfillment when things go wrong, over real Kafka and PostgreSQL: the ledger
refuses a commit (a failed item, an event, a retry), OrderCheckedOut arrives twice,
the service dies between taking an order and sending its commits, and returns
under the no-refund policy and of an order left partly owing."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select

from contracts.envelope import Actor, ActorKind
from contracts.fulfillment import (
    FulfillItem,
    ListFulfillmentProblems,
    RetryFulfillmentItem,
    ReturnItem,
)
from contracts.ledger import VoidPointTransaction
from contracts.order import AddProductLineItem, CheckoutOrder
from contracts.topics import (
    LEDGER_COMMAND_RESULTS,
    LEDGER_COMMANDS,
    ORDER_EVENTS,
    STORE_CREDIT_EVENTS,
)
from services.fulfillment.app import definition as fulfillment
from shared.runtime.db import create_engine
from shared.runtime.faults import CRASH_EXIT_CODE
from shared.runtime.messaging_tables import inbox, outbox
from shared.runtime.settings import Settings
from tests.fulfillment_client import OPERATOR, ask_fulfillment
from tests.integration.conftest import running
from tests.integration.shop import ALL_SERVICES, Shop, card, mug, shop_running
from tests.kafka_tools import has_type, send
from tests.processes import start_service, wait_for_exit


async def points_order(shop: Shop, points: int = 1_000) -> tuple[str, str]:
    """A 20.00 mug paid with ``points`` points (at 0.01) and a card for the rest."""
    order_id = await shop.open_order()
    spend = await shop.spend(points)
    assert (await shop.orders.do(mug(order_id, unit_price=2_000)))["status"] == "accepted"
    await shop.add_points(order_id, spend)
    payment = card(2_000 - points)
    checkout = await shop.orders.do(CheckoutOrder(order_id=order_id, payment=payment))
    assert checkout["status"] == "accepted", checkout
    return order_id, spend


async def every_problem(settings: Settings) -> dict[str, Any]:
    """ListFulfillmentProblems page after page (two a page): {order id: fulfillment}."""
    found: dict[str, Any] = {}
    after = None
    while True:
        page = await ask_fulfillment(
            settings, ListFulfillmentProblems(after=after, limit=2), OPERATOR
        )
        assert page.type == "FulfillmentProblems", page.payload
        found.update({f["order_id"]: f for f in page.payload["fulfillments"]})
        after = page.payload["next_after"]
        if after is None:
            return found


async def scalar(settings: Settings, service: str, query: Any) -> Any:
    engine = create_engine(settings.database_url_for(service))
    try:
        async with engine.connect() as connection:
            return await connection.scalar(query)
    finally:
        await engine.dispose()


async def until(check: Any) -> None:
    async with asyncio.timeout(60):
        while not await check():
            await asyncio.sleep(0.1)


def ledger_commands_for(transaction_id: str) -> Any:
    """How many ledger commands fulfillment ever wrote for a transaction (its outbox)."""
    return (
        select(func.count())
        .select_from(outbox)
        .where(outbox.c.topic.like(f"%{LEDGER_COMMANDS.name}"))
        .where(
            func.convert_from(outbox.c.value, "UTF8").like(f'%"transaction_id":"{transaction_id}"%')
        )
    )


async def test_a_refused_commit_fails_visibly_and_a_twice_delivered_order_changes_nothing(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    async with shop_running(producer, isolated, watch, loyalty=10_000) as shop:
        order_events = await watch(isolated.topic(ORDER_EVENTS))
        ledger_results = await watch(isolated.topic(LEDGER_COMMAND_RESULTS))
        good, good_spend = await points_order(shop)
        doomed, doomed_spend = await points_order(shop, 500)
        [checked_out] = await order_events.wait_for(has_type("OrderCheckedOut", order_id=good))
        await order_events.wait_for(has_type("OrderCheckedOut", order_id=doomed))
        # Before fulfillment runs, an operator voids the second order's pending spend. It
        # is bound to its order: only a void on that order's behalf is taken.
        void = VoidPointTransaction(account_id=shop.loyalty, transaction_id=doomed_spend)
        assert (await shop.ledger.do(shop.loyalty, void))["code"] == "transaction_bound"
        void = void.model_copy(update={"order_id": doomed})
        assert (await shop.ledger.do(shop.loyalty, void))["status"] == "accepted"

        async with running(fulfillment, settings=isolated):
            done = await shop.items.answered(good)
            assert [(i["kind"], i["status"]) for i in done["items"]] == [
                ("manual", "pending"),
                ("points_spent", "fulfilled"),
            ]
            failed = await shop.items.answered(doomed)
            [item] = [i for i in failed["items"] if i["kind"] == "points_spent"]
            assert (item["status"], item["code"], item["attempts"]) == ("failed", "not_pending", 1)
            [alarm] = await shop.items.watcher.wait_for(
                has_type("FulfillmentItemFailed", order_id=doomed)
            )
            assert alarm.json()["payload"]["code"] == "not_pending"
            # The operators' list: the doomed order with its failed item, not the good one.
            problems = await every_problem(isolated)
            assert doomed in problems and good not in problems
            [listed] = [i for i in problems[doomed]["items"] if i["status"] == "failed"]
            assert (listed["fulfillment_item_id"], listed["code"]) == (
                item["fulfillment_item_id"],
                "not_pending",
            )
            customer = Actor(kind=ActorKind.CUSTOMER, id=problems[doomed]["customer_id"])
            asked = await ask_fulfillment(isolated, ListFulfillmentProblems(), customer)
            assert asked.payload["code"] == "forbidden", asked.payload
            retry = RetryFulfillmentItem(
                order_id=doomed, fulfillment_item_id=item["fulfillment_item_id"]
            )
            assert (await shop.items.do(retry))["produced"]["attempt"] == 2
            await shop.items.watcher.wait_for(
                has_type("FulfillmentItemFailed", order_id=doomed, attempt=2)
            )
            # Both refusals delivered again (as after a crash): each answers an attempt
            # retried since. Neither touches the item: the third attempt fails by its own
            # refusal, and the first two failed once each.
            refused = has_type(
                "CommandResult", command_type="CommitPointTransaction", status="rejected"
            )
            refusals = await ledger_results.wait_for(refused, count=2)
            for answer in refusals:
                key = answer.key.decode() if answer.key is not None else None
                await send(producer, answer.topic, key, answer.value, answer.headers)
            assert (await shop.items.do(retry))["produced"]["attempt"] == 3
            [third] = await shop.items.watcher.wait_for(
                has_type("FulfillmentItemFailed", order_id=doomed, attempt=3)
            )
            again = {answer.json()["message_id"] for answer in refusals}
            assert third.json()["causation_id"] not in again  # caused by its own answer
            for attempt in (1, 2):
                failures = has_type("FulfillmentItemFailed", order_id=doomed, attempt=attempt)
                assert len(shop.items.watcher.matching(failures)) == 1
            ok_item = next(i for i in done["items"] if i["kind"] == "points_spent")
            not_failed = RetryFulfillmentItem(
                order_id=good, fulfillment_item_id=ok_item["fulfillment_item_id"]
            )
            assert (await shop.items.do(not_failed))["code"] == "item_not_failed"

            # The same OrderCheckedOut again (a redelivery), and a copy under a new id.
            headers = dict(checked_out.headers)
            await send(producer, checked_out.topic, good, checked_out.value, headers)
            copy = json.loads(checked_out.value)
            copy["message_id"] = str(uuid.uuid4())
            await send(producer, checked_out.topic, good, json.dumps(copy).encode(), headers)
            consumer = "fulfillment.events.checked-out-orders"
            seen = (
                select(func.count())
                .where(inbox.c.consumer == consumer)
                .where(inbox.c.idempotency_key == copy["message_id"])
            )

            async def copy_handled() -> bool:
                return bool(await scalar(isolated, "fulfillment", seen))

            await until(copy_handled)
        assert await scalar(isolated, "fulfillment", ledger_commands_for(good_spend)) == 1
        # 10,000 - 1,000 (the first order); the voided 500 came back.
        await shop.balance_is(shop.loyalty, 9_000)


def start_fulfillment(settings: Settings, crash_at: str | None) -> subprocess.Popen[bytes]:
    # The relay would publish within this time: longer than any crash takes.
    return start_service(settings, "fulfillment", outbox_poll_ms=60_000, crash_at=crash_at)


async def test_a_crash_between_taking_an_order_and_sending_its_commits_loses_nothing(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    async with shop_running(producer, isolated, watch, loyalty=10_000) as shop:
        order_id, spend = await points_order(shop)

        doomed = start_fulfillment(isolated, "event_after_commit:OrderCheckedOut")
        try:
            assert await wait_for_exit(doomed) == CRASH_EXIT_CODE
        finally:
            if doomed.poll() is None:
                doomed.kill()
        unsent = select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
        assert await scalar(isolated, "fulfillment", unsent) >= 1  # the commit, not yet sent

        restarted = start_fulfillment(isolated, None)
        try:
            done = await shop.items.answered(order_id)
            assert [i["status"] for i in done["items"] if i["kind"] == "points_spent"] == [
                "fulfilled"
            ]
            await shop.balance_is(shop.loyalty, 9_000)
        finally:
            restarted.terminate()
            restarted.wait(30)
        assert await scalar(isolated, "fulfillment", ledger_commands_for(spend)) == 1


async def test_returns_under_the_no_refund_policy_and_of_an_order_left_owing(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    settings = isolated.model_copy(update={"no_refund_policy": True})
    async with shop_running(producer, settings, watch, ALL_SERVICES) as shop:
        credit_events = await watch(settings.topic(STORE_CREDIT_EVENTS))

        # Paid by card only: returned, it comes back as store credit for the customer.
        by_card = await shop.open_order()
        lamp = AddProductLineItem(
            order_id=by_card, line_item_id="lamp", sku="LAMP", name="Lamp", unit_price=4_000
        )
        assert (await shop.orders.do(lamp))["status"] == "accepted"
        checkout = await shop.orders.do(CheckoutOrder(order_id=by_card, payment=card(4_000)))
        assert checkout["status"] == "accepted"
        await ship_everything(shop, by_card)
        back = ReturnItem(order_id=by_card, return_id="r1", line_item_id="lamp", reason="broken")
        assert (await shop.items.do(back))["status"] == "accepted"
        returned = await shop.items.returned(by_card, "r1")
        [part] = returned["parts"]
        assert (part["kind"], part["amount"], part["status"]) == (
            "issue_store_credit",
            4_000,
            "done",
        )
        [issued] = await credit_events.wait_for(
            has_type("StoreCredit", store_credit_id=part["store_credit_id"])
        )
        body = issued.json()["payload"]
        assert (body["amount"], body["customer_id"], body["reason"]) == (
            4_000,
            shop.owner,
            "refund",
        )

        # Half paid by a credit that allows a balance owing: returned, the credit gets
        # its half back and the other half is no longer owed.
        owing = await shop.issue(2_000, allow_balance_owing=True)
        partly = await shop.open_order()
        chair = AddProductLineItem(
            order_id=partly, line_item_id="chair", sku="CHAIR", name="Chair", unit_price=4_000
        )
        assert (await shop.orders.do(chair))["status"] == "accepted"
        await shop.apply_credit(partly, "a", token=owing["token"])
        checkout = await shop.orders.do(CheckoutOrder(order_id=partly), shop.shopper)
        assert checkout["produced"]["balance_owing"] == 2_000, checkout
        await ship_everything(shop, partly)
        chair_back = ReturnItem(order_id=partly, return_id="r1", line_item_id="chair")
        assert (await shop.items.do(chair_back))["status"] == "accepted"
        returned = await shop.items.returned(partly, "r1")
        assert sorted((p["kind"], p["amount"]) for p in returned["parts"]) == [
            ("owing_cancelled", 2_000),
            ("restore_store_credit", 2_000),
        ]
        await shop.balance_is(owing["ledger_account_id"], 2_000)


async def ship_everything(shop: Shop, order_id: str) -> None:
    """Fulfil the order's manual items once the ledger has answered for the others."""
    state = await shop.items.answered(order_id)
    for item in state["items"]:
        if item["kind"] == "manual":
            ship = FulfillItem(order_id=order_id, fulfillment_item_id=item["fulfillment_item_id"])
            assert (await shop.items.do(ship))["status"] == "accepted"
    await shop.items.when(order_id, lambda f: all(i["status"] == "fulfilled" for i in f["items"]))
