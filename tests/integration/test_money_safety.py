"""No order is ever checked out on money that cannot be captured, over real Kafka and
PostgreSQL with the four services: a released spend never pays again, whatever the
interleaving; random interleavings of carts and customers sharing spends and credits
end with every checked-out order's spends and holds bound and captured, and nothing
used twice; a bound hold outlives its expiry while fulfillment is down, and is captured
once it is back; a checkout the ledger does not answer fails and can be done again; a
removed credit makes the others hold more; a payment that fails ships nothing, and an
operator cancels it."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer

from contracts.envelope import Actor, Message
from contracts.fulfillment import CancelFulfillment, FulfillItem
from contracts.ledger import GetTransactionHistory, VoidPointTransaction
from contracts.order import (
    AddPointTransactionLineItem,
    ApplyStoreCredit,
    CancelOrder,
    CheckoutOrder,
    RemoveLineItem,
    RemoveStoreCredit,
)
from contracts.topics import LEDGER_QUERIES, LEDGER_QUERY_REPLIES, ORDER_EVENTS
from services.fulfillment.app import definition as fulfillment
from services.ledger.app import definition as ledger
from services.order.app import definition as order_service
from services.store_credit.app import definition as store_credit
from shared.runtime.broker import kafka_client_options
from shared.runtime.settings import Settings
from shared.tools.request_client import RequestClient
from tests.integration.conftest import running
from tests.integration.shop import ALL_SERVICES, Shop, card, mug, shop_running, the_shop
from tests.integration.test_invariants import Databases, checked, outbox_drained
from tests.kafka_tools import command, has_type
from tests.order_client import SHOP, Orders


async def fire(orders: Orders, commands: list[tuple[Message, Actor]]) -> list[dict[str, Any]]:
    """Send every command at once (no waiting in between), then their results, in order."""
    envelopes = [command(payload, actor=actor) for payload, actor in commands]
    for (payload, _), envelope in zip(commands, envelopes, strict=True):
        await orders.send(payload.order_id, envelope)  # type: ignore[attr-defined]
    return [await orders.result_of(envelope) for envelope in envelopes]


async def no_checkout_under_way(settings: Settings) -> None:
    """Every checkout begun has ended (checked out or failed) and been published."""
    databases = Databases(settings)
    try:
        async with asyncio.timeout(60):
            while await databases.scalar(
                "order", "SELECT count(*) FROM orders WHERE status = 'checking_out'"
            ):
                await asyncio.sleep(0.1)
        await outbox_drained(databases)
    finally:
        await databases.close()


async def transaction_in_ledger(settings: Settings, account_id: str, transaction_id: str) -> Any:
    """The transaction as the ledger's history shows it."""
    question = command(GetTransactionHistory(account_id=account_id, page_size=500), actor=SHOP)
    async with RequestClient(
        settings.kafka_bootstrap_servers,
        settings.topic(LEDGER_QUERY_REPLIES),
        keyring=settings.keyring(),
        **kafka_client_options(settings),
    ) as client:
        reply = await client.request(settings.topic(LEDGER_QUERIES), account_id, question)
    return next(t for t in reply.payload["transactions"] if t["transaction_id"] == transaction_id)


async def test_a_released_spend_never_pays_for_a_second_order(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    """The issue's sequence, back to back, again and again: remove the spend's line from
    cart A, add it to cart B, check B out. B never gets the spend."""
    async with shop_running(producer, isolated, watch, loyalty=100_000) as shop:
        for _ in range(6):
            first, second = await shop.mug_cart(), await shop.mug_cart()
            spend = await shop.spend(1_000)
            await shop.add_points(first, spend)
            removed, moved, checkout = await fire(
                shop.orders,
                [
                    (RemoveLineItem(order_id=first, line_item_id="points"), shop.shopper),
                    (
                        AddPointTransactionLineItem(
                            order_id=second, line_item_id="points", transaction_id=spend
                        ),
                        shop.shopper,
                    ),
                    (CheckoutOrder(order_id=second), shop.shopper),
                ],
            )
            assert removed["status"] == "accepted", removed
            # Refused either way: released already (the order voided it), or used already.
            assert moved["code"] in ("transaction_not_pending", "transaction_already_targeted")
            assert checkout["code"] == "amount_not_covered", checkout
            history = await transaction_in_ledger(isolated, shop.loyalty, spend)
            assert history["status"] == "voided"


async def test_random_interleavings_never_check_out_on_money_not_captured(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    """Three customers, three carts each, sharing their spends and store credits (and
    trying each other's): adds, removals, credits applied and removed, cancels and
    checkouts fired in random bursts. Every checked-out order's spends and holds are
    bound to it and captured, none paid two orders, and the invariants hold."""
    settings = isolated.model_copy(update={"checkout_margin_s": 0})
    async with running(ledger, store_credit, order_service, fulfillment, settings=settings):
        events = await watch(settings.topic(ORDER_EVENTS))
        shops: list[Shop] = []
        spends: dict[str, list[str]] = {}
        credits: dict[str, list[str]] = {}
        carts: dict[str, list[str]] = {}
        for _ in range(3):
            shop = await the_shop(producer, settings, watch)
            await shop.open_loyalty(100_000)
            shops.append(shop)
            credits[shop.owner] = [(await shop.issue(1_000))["store_credit_id"] for _ in range(2)]
        answered: Counter[str] = Counter()
        for seed in range(5):
            for shop in shops:  # fresh carts and spends (3.00: one pays for a cart) each round
                spends[shop.owner] = [await shop.spend(300) for _ in range(3)]
                carts[shop.owner] = [await shop.mug_cart(300) for _ in range(3)]
            chance = random.Random(seed)
            for _ in range(6):
                burst = [_random_step(chance, shops, spends, credits, carts) for _ in range(8)]
                results = await fire(shops[0].orders, burst)
                assert all(r["code"] != "internal_error" for r in results), results
                answered.update(
                    f"{r['command_type']}:{r['code'] or r['produced'].get('status', 'ok')}"
                    for r in results
                )

        await no_checkout_under_way(settings)
        checked_out = [r.json()["payload"] for r in events.matching(has_type("OrderCheckedOut"))]
        assert checked_out, "no checkout went through: the test proves nothing"
        used: dict[str, str] = {}
        for order in checked_out:
            paying = [s["transaction_id"] for s in order["pending_spends"]] + [
                h["transaction_id"] for h in order["holds"]
            ]
            for transaction_id in paying:
                assert used.setdefault(transaction_id, order["order_id"]) == order["order_id"], (
                    f"{transaction_id} paid for {used[transaction_id]} and {order['order_id']}"
                )
            done = await shops[0].items.when(
                order["order_id"], lambda f: f["payment_status"] != "capturing"
            )
            assert done["payment_status"] == "captured", done
        code, found = await checked(settings, settle_s=5)
        assert (code, found) == (0, []), found
        print(f"{len(checked_out)} checked out; answers: {sorted(answered.items())}")


def _random_step(
    chance: random.Random,
    shops: list[Shop],
    spends: dict[str, list[str]],
    credits: dict[str, list[str]],
    carts: dict[str, list[str]],
) -> tuple[Message, Actor]:
    shop = chance.choice(shops)
    order_id = chance.choice(carts[shop.owner])
    # Mostly their own spends and credits, now and then another customer's.
    owner = shop.owner if chance.random() < 0.8 else chance.choice(shops).owner
    line = f"points-{chance.randrange(2)}"
    application = f"credit-{chance.randrange(2)}"
    step = chance.randrange(7)
    if step == 0:
        payload: Message = AddPointTransactionLineItem(
            order_id=order_id, line_item_id=line, transaction_id=chance.choice(spends[owner])
        )
    elif step == 1:
        payload = RemoveLineItem(order_id=order_id, line_item_id=line)
    elif step == 2:
        payload = ApplyStoreCredit(
            order_id=order_id,
            application_id=f"{application}-{chance.randrange(10**6)}",
            store_credit_id=chance.choice(credits[owner]),
        )
    elif step == 3:
        payload = RemoveStoreCredit(order_id=order_id, application_id=application)
    elif step == 4 and chance.random() < 0.3:
        payload = CancelOrder(order_id=order_id)
    else:
        payload = CheckoutOrder(order_id=order_id)
    return payload, shop.shopper


async def test_a_bound_hold_outlives_its_expiry_and_is_captured_once_fulfillment_is_back(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    """A spend expiring seconds after checkout, fulfillment down past that: the ledger
    does not void it (bound), and fulfillment commits it when it comes back."""
    settings = isolated.model_copy(update={"checkout_margin_s": 1})
    async with shop_running(producer, settings, watch, loyalty=10_000) as shop:
        order_id = await shop.mug_cart(2_000)
        expires_at = datetime.now(UTC) + timedelta(seconds=6)
        spend = await shop.spend(1_000, expires_at)
        await shop.add_points(order_id, spend)
        checkout = await shop.orders.do(CheckoutOrder(order_id=order_id, payment=card(1_000)))
        assert checkout["produced"]["status"] == "checking_out", checkout
        await shop.orders.watcher.wait_for(has_type("OrderCheckedOut", order_id=order_id))
        while datetime.now(UTC) < expires_at + timedelta(seconds=2):  # sweeps run every 200 ms
            await asyncio.sleep(0.2)
        held = await transaction_in_ledger(settings, shop.loyalty, spend)
        assert (held["status"], held["bound_order_id"]) == ("pending", order_id), held

        async with running(fulfillment, settings=settings):
            done = await shop.items.when(order_id, lambda f: f["payment_status"] != "capturing")
            assert done["payment_status"] == "captured", done
        committed = await transaction_in_ledger(settings, shop.loyalty, spend)
        assert (committed["status"], committed["committed_amount"]) == ("committed", -1_000)


async def test_a_checkout_the_ledger_does_not_answer_fails_and_is_done_again(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    settings = isolated.model_copy(update={"checkout_timeout_s": 2, "cart_sweep_ms": 200})
    async with running(store_credit, order_service, settings=settings):
        async with running(ledger, settings=settings):
            shop = await the_shop(producer, settings, watch)
            await shop.open_loyalty(10_000)
            order_id = await shop.mug_cart(1_000)
            spend = await shop.spend(500)
            await shop.add_points(order_id, spend)
            by_card = card(500)
        # The ledger is down: the checkout waits for it, then fails, and says why.
        first = await shop.orders.do(CheckoutOrder(order_id=order_id, payment=by_card))
        assert first["produced"]["status"] == "checking_out", first
        [failed] = await shop.orders.watcher.wait_for(has_type("CheckoutFailed", order_id=order_id))
        assert (failed.json()["payload"]["code"], failed.json()["payload"]["attempt"]) == (
            "checkout_timed_out",
            1,
        )
        reopened = await shop.orders.when(
            order_id, lambda o: o["status"] == "open" and o["checkout_failure"] is not None
        )
        assert reopened["checkout_failure"]["code"] == "checkout_timed_out"
        assert reopened["payment"] is None
        async with running(ledger, settings=settings):
            # The late bind lands (bound to this order, which alone may use it); its answer
            # to a finished attempt changes nothing. A new checkout goes through.
            again = await shop.orders.do(CheckoutOrder(order_id=order_id, payment=by_card))
            assert (again["status"], again["produced"]["attempt"]) == ("accepted", 2), again
            [out] = await shop.orders.watcher.wait_for(
                has_type("OrderCheckedOut", order_id=order_id)
            )
            assert [s["transaction_id"] for s in out.json()["payload"]["pending_spends"]] == [spend]
            bound = await transaction_in_ledger(settings, shop.loyalty, spend)
            assert bound["bound_order_id"] == order_id


async def test_a_spend_voided_before_its_bind_fails_the_checkout_and_never_checks_out(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    """An operator voids a spend in the cart just as the customer checks out: either the
    order sees it first (refused at once), or the ledger refuses the bind (CheckoutFailed,
    the order open again). Never an OrderCheckedOut on a voided spend."""
    async with shop_running(producer, isolated, watch, loyalty=100_000) as shop:
        outcomes = []
        for _ in range(5):
            order_id = await shop.mug_cart(1_000)
            spend = await shop.spend(1_000)
            await shop.add_points(order_id, spend)
            void = command(VoidPointTransaction(account_id=shop.loyalty, transaction_id=spend))
            await shop.ledger.send(shop.loyalty, void)
            checkout = await shop.orders.do(CheckoutOrder(order_id=order_id), shop.shopper)
            if checkout["status"] == "rejected":
                assert checkout["code"] == "transaction_not_pending", checkout
                outcomes.append("refused")
                continue
            [failed] = await shop.orders.watcher.wait_for(
                has_type("CheckoutFailed", order_id=order_id)
            )
            assert failed.json()["payload"]["code"] == "not_pending"
            assert failed.json()["payload"]["transaction_id"] == spend
            outcomes.append("failed")
            assert not shop.orders.watcher.matching(has_type("OrderCheckedOut", order_id=order_id))
        print(f"voided spends at checkout: {outcomes}")


async def test_removing_a_credit_makes_the_others_hold_what_is_due(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    """The seed's 54.95 order: 30.00 from a first credit, 24.95 of a second's 50.00. The
    first removed, the second grows to 50.00 (one ledger step), 4.95 is left for a card."""
    async with shop_running(producer, isolated, watch, ALL_SERVICES) as shop:
        small = await shop.issue(3_000)
        large = await shop.issue(5_000)
        order_id = await shop.seed_order()
        for application, credit in (("a1", small), ("a2", large)):
            applied_so_far = 1 if application == "a1" else 2
            await shop.apply_credit(
                order_id, application, applied_so_far, store_credit_id=credit["store_credit_id"]
            )
        order = await shop.orders.credits_settled(order_id, 2)
        assert [(c["status"], c["held"]) for c in order["applied_credits"]] == [
            ("held", 3_000),
            ("held", 2_495),
        ]
        remove = RemoveStoreCredit(order_id=order_id, application_id="a1")
        assert (await shop.orders.do(remove, shop.shopper))["status"] == "accepted"
        order = await shop.orders.when(
            order_id,
            lambda o: (
                [(c["status"], c["held"]) for c in o["applied_credits"]]
                == [("removed", 0), ("held", 5_000)]
            ),
        )
        assert order["totals"]["amount_due"] == 495
        checkout = await shop.orders.do(CheckoutOrder(order_id=order_id, payment=card(495)))
        assert checkout["status"] == "accepted"
        [out] = await shop.orders.watcher.wait_for(has_type("OrderCheckedOut", order_id=order_id))
        [hold] = out.json()["payload"]["holds"]
        assert (hold["held"], hold["capture"]) == (-5_000, -5_000)
        done = await shop.items.when(order_id, lambda f: f["payment_status"] != "capturing")
        assert done["payment_status"] == "captured"
        await shop.balance_is(large["ledger_account_id"], 0)
        await shop.balance_is(small["ledger_account_id"], 3_000)


async def test_a_payment_that_fails_ships_nothing_until_an_operator_cancels_it(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    """Checked out with points and a card; an operator voids the bound spend on the
    order's behalf before fulfillment runs. Nothing is given: the mug cannot be shipped,
    the points it earns wait. CancelFulfillment ends it: nothing is given."""
    async with shop_running(producer, isolated, watch, loyalty=10_000) as shop:
        order_id = await shop.open_order()
        mugs = mug(order_id, unit_price=2_000, points_per_unit=200)
        assert (await shop.orders.do(mugs))["status"] == "accepted"
        spend = await shop.spend(1_000)
        await shop.add_points(order_id, spend)
        checkout = await shop.orders.do(CheckoutOrder(order_id=order_id, payment=card(1_000)))
        assert checkout["status"] == "accepted"
        await shop.orders.watcher.wait_for(has_type("OrderCheckedOut", order_id=order_id))
        void = VoidPointTransaction(
            account_id=shop.loyalty, transaction_id=spend, order_id=order_id
        )
        assert (await shop.ledger.do(shop.loyalty, void))["status"] == "accepted"

        async with running(fulfillment, settings=isolated):
            failed = await shop.items.when(order_id, lambda f: f["payment_status"] == "failed")
            kinds = {i["kind"]: i for i in failed["items"]}
            assert kinds["points_spent"]["code"] == "not_pending"
            assert kinds["points_earned"]["status"] == "pending"  # no points before payment
            ship = FulfillItem(
                order_id=order_id, fulfillment_item_id=kinds["manual"]["fulfillment_item_id"]
            )
            refused = await shop.items.do(ship)
            assert (refused["code"], refused["retryable"]) == ("payment_failed", False)
            cancel = CancelFulfillment(order_id=order_id, reason="points voided")
            assert (await shop.items.do(cancel))["produced"]["captures_given_back"] == 0
            ended = await shop.items.when(order_id, lambda f: f["payment_status"] == "cancelled")
            assert {i["kind"]: i["status"] for i in ended["items"]} == {
                "manual": "cancelled",
                "points_spent": "cancelled",
                "points_earned": "cancelled",
            }
            assert (await shop.items.do(ship))["code"] == "fulfillment_cancelled"
            # The order shows it too, from fulfillment's events (null while all was well).
            for status in ("failed", "cancelled"):
                await shop.orders.when(order_id, lambda o, s=status: o["payment_status"] == s)
        await shop.balance_is(shop.loyalty, 10_000)
        code, found = await checked(isolated, settle_s=2)
        assert [v["name"] for v in found] == ["spend_not_committed"], found
        assert code == 1
