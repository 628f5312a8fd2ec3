"""Templates give every new customer an account each, and their changes reach
every account made from them; direct accounts are left alone. Each test runs
its own ledger and store-credit services on databases and topics of its own, so
no other test's templates apply."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any
from uuid import UUID

from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select

from contracts.envelope import new_envelope
from contracts.store_credit import (
    CreatePointAccount,
    CreatePointAccountTemplate,
    ListCustomerAccounts,
    UpdatePointAccountTemplate,
)
from contracts.topics import STORE_CREDIT_QUERIES, STORE_CREDIT_QUERY_REPLIES
from services.ledger.app import definition as ledger
from services.store_credit.accounts import template_account_id
from services.store_credit.app import definition as store_credit
from shared.runtime.broker import kafka_client_options
from shared.runtime.db import create_engine
from shared.runtime.messaging_tables import inbox
from shared.runtime.settings import Settings
from shared.tools.request_client import RequestClient
from tests.integration.conftest import running
from tests.kafka_tools import ADMIN, has_type, send_envelope
from tests.random_refs import random_id
from tests.store_credit_client import StoreCredit, make_store_credit


def template(template_id: str, **fields: Any) -> CreatePointAccountTemplate:
    values: dict[str, Any] = {
        "template_id": template_id,
        "name": f"Template {template_id}",
        "kind": "loyalty",
        "unit": "points:loyalty",
        "exchange_rates": {"USD": Decimal("0.01")},
    }
    values.update(fields)
    return CreatePointAccountTemplate(**values)


async def accounts_of(settings: Settings, customer_id: str) -> list[dict[str, Any]]:
    async with RequestClient(
        settings.kafka_bootstrap_servers,
        settings.topic(STORE_CREDIT_QUERY_REPLIES),
        keyring=settings.keyring(),
        **kafka_client_options(settings),
    ) as client:
        reply = await client.request(
            settings.topic(STORE_CREDIT_QUERIES),
            customer_id,
            new_envelope(ListCustomerAccounts(customer_id=customer_id), actor=ADMIN),
        )
    assert reply.type == "CustomerAccounts", reply
    accounts: list[dict[str, Any]] = reply.payload["point_accounts"]
    return accounts


async def handled(settings: Settings, message_id: UUID) -> None:
    """Wait until the store-credit service has recorded an event in its inbox."""
    engine = create_engine(settings.database_url_for("store_credit"))
    try:
        async with asyncio.timeout(60):
            await _until_recorded(engine, message_id)
    finally:
        await engine.dispose()


async def _until_recorded(engine: Any, message_id: UUID) -> None:
    while True:
        async with engine.connect() as connection:
            found = await connection.scalar(
                select(func.count()).where(inbox.c.message_id == message_id)
            )
        if found:
            return
        await asyncio.sleep(0.05)


async def test_templates_make_accounts_and_their_changes_reach_them(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    async with running(ledger, store_credit, settings=isolated):
        client: StoreCredit = await make_store_credit(producer, isolated, watch)
        loyalty, credit, dormant = random_id("tpl"), random_id("tpl"), random_id("tpl")
        for payload in (
            template(loyalty),
            template(
                credit, kind="store_credit", unit="USD", exchange_rates={"USD": Decimal("0.01")}
            ),
            template(dormant, status="inactive"),
        ):
            assert (await client.do(payload.template_id, payload))["status"] == "accepted"

        customers = [random_id("cust") for _ in range(3)]
        created = [await client.customer_created(c) for c in customers]
        for customer in customers:
            made = await client.watcher.wait_for(
                has_type("PointAccount", customer_id=customer), count=2
            )
            assert sorted(m.json()["payload"]["template_id"] for m in made) == sorted(
                [loyalty, credit]
            )
            for template_id in (loyalty, credit):  # each opened in the ledger
                await client.watcher.wait_for(
                    has_type(
                        "BalanceChanged", account_id=template_account_id(customer, template_id)
                    )
                )

        direct = CreatePointAccount(
            account_id=random_id("pa"),
            customer_id=customers[0],
            name="Goodwill",
            kind="store_credit",
            unit="USD",
        )
        assert (await client.do(customers[0], direct))["status"] == "accepted"
        renamed = UpdatePointAccountTemplate(
            template_id=loyalty, name="Stars", exchange_rates={"USD": Decimal("0.005")}
        )
        result = await client.do(loyalty, renamed)
        assert result["produced"]["accounts_updated"] == 3
        for customer in customers:
            [update] = await client.watcher.wait_for(
                has_type("PointAccount", customer_id=customer, template_id=loyalty, name="Stars")
            )
            assert update.json()["payload"]["exchange_rates"] == {"USD": "0.005"}
            assert update.json()["payload"]["version"] == 2

        off = await client.do(
            loyalty, UpdatePointAccountTemplate(template_id=loyalty, status="inactive")
        )
        assert off["produced"]["accounts_updated"] == 3
        await client.watcher.wait_for(
            has_type("PointAccount", template_id=loyalty, status="suspended"), count=3
        )

        # A redelivered CustomerCreated, then a new one for the same customer (same
        # partition, so handled after it): neither makes anything new.
        await send_envelope(
            producer, isolated.topic_prefix + "customers.events", customers[0], created[0]
        )
        later = await client.customer_created(customers[0])
        await handled(isolated, later.message_id)
        listed = await accounts_of(isolated, customers[0])
        by_id = {a["account_id"]: a for a in listed}
        assert set(by_id) == {
            template_account_id(customers[0], loyalty),
            template_account_id(customers[0], credit),
            direct.account_id,
        }
        assert by_id[direct.account_id]["name"] == "Goodwill"  # untouched by the template
        assert by_id[template_account_id(customers[0], loyalty)]["status"] == "suspended"
        assert by_id[template_account_id(customers[0], credit)]["balance"] == 0
        assert len(await accounts_of(isolated, customers[1])) == 2


async def test_a_template_change_reaches_many_accounts(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    """One rename, one command: every one of many customers' accounts follows it."""
    many = 120
    async with running(store_credit, settings=isolated):
        client: StoreCredit = await make_store_credit(producer, isolated, watch)
        loyalty = random_id("tpl")
        assert (await client.do(loyalty, template(loyalty)))["status"] == "accepted"
        customers = [random_id("cust") for _ in range(many)]
        for customer in customers:
            await client.customer_created(customer)
        await client.watcher.wait_for(has_type("PointAccount", template_id=loyalty), count=many)

        renamed = UpdatePointAccountTemplate(
            template_id=loyalty, name="Stars", exchange_rates={"EUR": Decimal("0.02")}
        )
        result = await client.do(loyalty, renamed)
        assert result["produced"]["accounts_updated"] == many
        updates = await client.watcher.wait_for(
            has_type("PointAccount", template_id=loyalty, name="Stars"), count=many
        )
        assert {u.json()["payload"]["customer_id"] for u in updates} == set(customers)
        assert {str(u.json()["payload"]["exchange_rates"]) for u in updates} == {
            str({"EUR": "0.02"})
        }
        sample = await accounts_of(isolated, customers[many // 2])
        assert [(a["name"], a["exchange_rates"]) for a in sample] == [("Stars", {"EUR": "0.02"})]
