"""The order path over real Kafka and PostgreSQL: a store-credit code applied to an
order is in clear only where the shop sent it (sealed for the store-credit service,
never in a table or a log line), and GetOrder answers like the seed's Order.Get."""

from __future__ import annotations

import logging
import re
import secrets
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text

from contracts.order import ApplyStoreCredit, CheckoutOrder
from contracts.topics import ALL_TOPICS, STORE_CREDIT_COMMANDS
from services.order.carts import default_number
from services.order.resize import hold_transaction_id
from shared.runtime import sealing
from shared.runtime.broker import kafka_client_options
from shared.runtime.db import create_engine
from shared.runtime.settings import Settings
from tests.integration.conftest import ISOLATED_SERVICES
from tests.integration.shop import shop_running
from tests.integration.test_orders import get_order
from tests.kafka_tools import Record, has_type, read_all
from tests.order_client import customer
from tests.random_refs import random_id
from tests.sealed import sealed


def written_forms(code: str) -> list[bytes]:
    """A code as a shop may write it: plain digits, in fours with spaces or dashes."""
    fours = [code[i : i + 4] for i in range(0, len(code), 4)]
    return [code.encode(), " ".join(fours).encode(), "-".join(fours).encode()]


def shows(record: Record, code: str) -> bool:
    """Whether a record's value, key or headers hold ``code`` in any written form."""
    where = [record.value, record.key or b"", *(v.encode() for v in record.headers.values())]
    return any(form in part for form in written_forms(code) for part in where)


async def every_record(settings: Settings) -> list[tuple[str, Record]]:
    """Every record of this test's topics, with the unprefixed name of its topic."""
    return [
        (spec.name, record)
        for spec in ALL_TOPICS
        for record in await read_all(
            settings.kafka_bootstrap_servers, settings.topic(spec), **kafka_client_options(settings)
        )
    ]


def topics_showing(
    records: list[tuple[str, Record]], code: str
) -> list[tuple[str, str, str | None]]:
    """The records holding ``code``: their topic, type and (results) command type."""
    return [
        (topic, record.json()["type"], record.json()["payload"].get("command_type"))
        for topic, record in records
        if shows(record, code)
    ]


async def rows_showing(settings: Settings, code: str) -> list[tuple[str, str]]:
    """Every row of every table of this test's databases holding ``code``, as text."""
    found = []
    for service in ISOLATED_SERVICES:
        engine = create_engine(settings.database_url_for(service))
        try:
            async with engine.connect() as connection:
                tables = (
                    await connection.execute(
                        text(
                            "SELECT table_name FROM information_schema.tables "
                            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
                        )
                    )
                ).scalars()
                for table in list(tables):
                    rows = await connection.execute(text(f'SELECT t::text FROM "{table}" t'))
                    found += [
                        (service, table)
                        for row in rows.scalars()
                        if any(form.decode() in row for form in written_forms(code))
                    ]
        finally:
            await engine.dispose()
    return found


def logs_showing(caplog: pytest.LogCaptureFixture, code: str) -> list[str]:
    """Loggers whose records (message, arguments or extra fields) hold ``code``.

    aiokafka's own DEBUG lines dump raw records (the shop's command among them);
    services run it at WARNING (shared.runtime.logging.configure_logging), so it is left out.
    """
    return [
        r.name
        for r in caplog.records
        if not r.name.startswith("aiokafka")
        and any(form.decode() in f"{r.getMessage()} {vars(r)!r}" for form in written_forms(code))
    ]


async def test_a_code_applied_to_an_order_is_never_in_clear(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with shop_running(producer, isolated, watch) as shop:
        orders, shopper = shop.orders, shop.shopper
        code = (await shop.issue(10_000))["code"]
        wrong = f"{secrets.randbelow(10**16):016d}"
        assert wrong != code
        wrong_as_typed = written_forms(wrong)[2].decode()  # 1234-5678-...
        order_id = await shop.seed_order()

        # A wrong code first (while something is due, so it reaches the store-credit
        # service): accepted as asked, then refused there.
        guess = ApplyStoreCredit(
            order_id=order_id,
            application_id="guess",
            sealed_code=sealed(wrong_as_typed, shopper),
        )
        asked = await orders.do(guess, shopper)
        assert asked["status"] == "accepted", asked
        order = await orders.credits_settled(order_id, 1)
        [refused] = order["applied_credits"]
        assert (refused["status"], refused["refusal_code"], refused["code"]) == (
            "refused",
            "store_credit_not_found",
            None,
        )

        right = ApplyStoreCredit(
            order_id=order_id, application_id="right", sealed_code=sealed(code, shopper)
        )
        asked = await orders.do(right, shopper)
        assert asked["status"] == "accepted", asked
        assert not any(form.decode() in str(asked) for form in written_forms(code))
        order = await orders.credits_settled(order_id, 2)
        assert [(c["status"], c["held"], c["code"]) for c in order["applied_credits"]] == [
            ("refused", 0, None),
            ("held", 5_495, "******" + code[-4:]),
        ]
        checkout = await orders.do(CheckoutOrder(order_id=order_id), shopper)
        assert checkout["status"] == "accepted", checkout
        await orders.watcher.wait_for(has_type("OrderCheckedOut", order_id=order_id))

    # The order service passed each code on to the store-credit service as the shop sealed
    # it, for the customer who applied it: it opens for them only.
    asks = [
        r.json()["payload"]
        for r in await read_all(
            isolated.kafka_bootstrap_servers,
            isolated.topic(STORE_CREDIT_COMMANDS),
            **kafka_client_options(isolated),
        )
        if r.headers.get("type") == "AuthorizeStoreCredit"
    ]
    assert [(a["application_id"], a["token"], a["store_credit_id"]) for a in asks] == [
        ("guess", None, None),
        ("right", None, None),
    ]
    private_key = isolated.code_seal_private_key_hex()
    stranger = customer(random_id("cust"))
    for ask, sent in zip(asks, (wrong_as_typed, code), strict=True):
        assert ask["requested_by"] == shopper.model_dump(mode="json")
        assert sealing.open_sealed(ask["sealed_code"], private_key, shopper) == sent
        with pytest.raises(sealing.SealError):
            sealing.open_sealed(ask["sealed_code"], private_key, stranger)

    # In clear: nowhere (the shop sent it sealed; the creation sealed it to the admin).
    records = await every_record(isolated)
    assert topics_showing(records, code) == []
    assert topics_showing(records, wrong) == []
    assert await rows_showing(isolated, code) == []
    assert await rows_showing(isolated, wrong) == []
    assert logs_showing(caplog, code) == []
    assert logs_showing(caplog, wrong) == []


async def test_get_order_answers_like_the_seeds_order_get(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    async with shop_running(producer, isolated, watch) as shop:
        orders, owner, shopper = shop.orders, shop.owner, shop.shopper
        small = await shop.issue(3_000)
        large = await shop.issue(159_000, allow_balance_owing=True)
        order_id = await shop.seed_order()
        for application_id, credit in (("a1", small), ("a2", large)):
            applied_so_far = int(application_id[1])
            settled = await shop.apply_credit(
                order_id, application_id, applied_so_far, code=credit["code"]
            )

        answer = await get_order(isolated, order_id, shopper)
        assert answer.type == "OrderFound"
        order = answer.payload["order"]
        assert order == settled  # the query reads what the last Order event said

        def applied(
            application_id: str, credit: dict[str, Any], amount: int, held: int
        ) -> dict[str, Any]:
            return {
                "application_id": application_id,
                "status": "held",
                "store_credit_id": credit["store_credit_id"],
                "name": f"Credit {amount}",
                "code": "******" + credit["code"][-4:],
                "hold_transaction_id": hold_transaction_id(order_id, application_id),
                "ledger_account_id": credit["ledger_account_id"],
                "held": held,
                "applied": held,
                "allow_balance_owing": application_id == "a2",
                "refusal_code": None,
                "refusal_reason": None,
            }

        # Field by field, against the seed's answer: OrderNumber, CustomerID, CurrencyID,
        # OrderStatusID 0, OrderItems, ShippingCost/Description, Tax, SubTotalValue,
        # TotalValue, and the StoreCredits applied, masked.
        assert datetime.fromisoformat(order.pop("expires_at")) > datetime.now(UTC)
        assert order.pop("version") >= 5
        assert order == {
            "order_id": order_id,
            "number": default_number(order_id),
            "customer_id": owner,
            "currency": "USD",
            "status": "open",
            "line_items": [
                {
                    "line_item_id": "tickets",
                    "kind": "product",
                    "sku": "T6060",
                    "name": "Disney Base Tickets | 4 Day Base Ticket | Adult",
                    "unit_price": 1_500,
                    "quantity": 2,
                    "amount": 3_000,
                    "account_id": None,
                    "unit": None,
                    "points": None,
                    "transaction_id": None,
                    "exchange_rate": None,
                }
            ],
            "applied_credits": [
                applied("a1", small, 3_000, 3_000),
                applied("a2", large, 159_000, 2_495),
            ],
            "totals": {
                "subtotal": 3_000,
                "points_value": 0,
                "shipping": 2_495,
                "tax": 0,
                "total": 5_495,
                "store_credit_applied": 5_495,
                "amount_due": 0,
                "paid_externally": 0,
                "balance_owing": 0,
            },
            "shipping_description": "FedEx International (Canada Only)",
            "tax_description": "",
            "payment": None,
            "checked_out_at": None,
            "checkout_failure": None,
            "payment_status": None,
        }
        assert re.fullmatch("[0-9A-F]{8}", default_number(order_id))  # like the seed's 0D138546

        # Another customer is told what an unknown order id is told: nothing of it.
        stranger = await get_order(isolated, order_id, customer(random_id("cust")))
        unknown = await get_order(isolated, random_id("ord"), shopper)
        for refused in (stranger, unknown):
            assert refused.type == "QueryFailed"
            assert refused.payload == {
                "code": "order_not_found",
                "reason": "There is no such order of yours.",
            }

        # Checked out, the same query shows it so, the credits captured.
        assert (await orders.do(CheckoutOrder(order_id=order_id), shopper))["status"] == "accepted"
        await orders.watcher.wait_for(has_type("OrderCheckedOut", order_id=order_id))
        after = (await get_order(isolated, order_id, shopper)).payload["order"]
        assert after["status"] == "checked_out" and after["checked_out_at"] is not None
        assert [c["status"] for c in after["applied_credits"]] == ["captured", "captured"]
        assert after["totals"] == order["totals"]
