"""Point accounts: at most N per customer even when creations race, refusals
that are never silent, and every rejection code of the account commands."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select

from contracts.envelope import Actor, ActorKind, Envelope, Message, new_envelope
from contracts.ledger import CreatePointTransaction, PointTransactionKind
from contracts.store_credit import (
    CreatePointAccount,
    CreatePointAccountTemplate,
    UpdatePointAccount,
    UpdatePointAccountTemplate,
)
from contracts.topics import LEDGER_COMMANDS
from services.ledger.app import definition as ledger
from services.store_credit.app import definition as store_credit
from services.store_credit.db import customers, point_accounts
from shared.runtime.service import ServiceRuntime
from shared.runtime.settings import Settings
from tests.copies import copy_reaches
from tests.integration.conftest import running
from tests.kafka_tools import ADMIN, command, has_type, send_envelope
from tests.ledger_client import service_instance
from tests.random_refs import random_id
from tests.store_credit_client import make_store_credit


def direct(customer_id: str, **fields: Any) -> CreatePointAccount:
    values: dict[str, Any] = {
        "account_id": random_id("pa"),
        "customer_id": customer_id,
        "name": "Direct",
        "kind": "store_credit",
        "unit": "USD",
    }
    values.update(fields)
    return CreatePointAccount(**values)


async def test_the_limit_holds_when_creations_race(
    settings: Settings, store_credit: ServiceRuntime
) -> None:
    """Twelve creations for one customer from two instances at once: ten win."""
    first = service_instance(settings, store_credit.definition, pool_size=12)
    second = service_instance(settings, store_credit.definition, pool_size=12)
    customer = random_id("cust")

    async def create(i: int) -> None:
        envelope: Envelope[Message] = new_envelope(direct(customer), actor=ADMIN)
        await (first if i % 2 else second).handle(customer, envelope)

    await asyncio.gather(*(create(i) for i in range(12)))
    async with first.sessions() as session:
        made = await session.scalar(
            select(func.count()).where(point_accounts.c.customer_id == customer)
        )
        counted = await session.scalar(
            select(customers.c.open_accounts).where(customers.c.customer_id == customer)
        )
    await first.dispose()
    await second.dispose()
    assert made == counted == settings.max_point_accounts_per_customer == 10


async def test_a_customer_with_more_templates_than_slots_is_told(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    limited = isolated.model_copy(update={"max_point_accounts_per_customer": 2})
    async with running(ledger, store_credit, settings=limited):
        client = await make_store_credit(producer, limited, watch)
        templates = [random_id("tpl") for _ in range(3)]
        for template_id in templates:
            payload = CreatePointAccountTemplate(
                template_id=template_id, name=template_id, kind="loyalty", unit="points:loyalty"
            )
            await client.do(template_id, payload)
        customer = random_id("cust")
        await client.customer_created(customer)

        [refused] = await client.watcher.wait_for(
            has_type("PointAccountRefused", customer_id=customer)
        )
        body = refused.json()["payload"]
        assert (body["template_id"], body["code"]) == (templates[2], "account_limit_reached")
        assert "at most 2" in body["reason"]
        made = client.watcher.matching(has_type("PointAccount", customer_id=customer))
        assert sorted(m.json()["payload"]["template_id"] for m in made) == sorted(templates[:2])
        over = await client.do(customer, direct(customer))
        assert over["code"] == "account_limit_reached"


async def test_account_commands_refuse_with_their_codes(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    async with running(ledger, store_credit, settings=isolated):
        client = await make_store_credit(producer, isolated, watch)
        customer = random_id("cust")
        shopper = Actor(kind=ActorKind.CUSTOMER, id=customer)
        template_id = random_id("tpl")
        tpl = CreatePointAccountTemplate(
            template_id=template_id, name="Stars", kind="loyalty", unit="points:loyalty"
        )
        assert (await client.do(template_id, tpl, shopper))["code"] == "forbidden"
        assert (await client.do(template_id, tpl))["status"] == "accepted"
        assert (await client.do(template_id, tpl))["code"] == "template_exists"
        missing = random_id("tpl")
        rename = UpdatePointAccountTemplate(template_id=missing, name="x")
        assert (await client.do(missing, rename))["code"] == "template_not_found"

        await client.customer_created(customer)
        [made] = await client.watcher.wait_for(has_type("PointAccount", customer_id=customer))
        from_template = made.json()["payload"]["account_id"]
        managed = UpdatePointAccount(account_id=from_template, customer_id=customer, name="Mine")
        assert (await client.do(customer, managed))["code"] == "managed_by_template"
        suspend = UpdatePointAccount(
            account_id=from_template, customer_id=customer, status="suspended"
        )
        assert (await client.do(customer, suspend))["produced"]["status"] == "suspended"

        account = direct(customer)
        assert (await client.do(customer, account, shopper))["code"] == "forbidden"
        assert (await client.do(customer, account))["status"] == "accepted"
        assert (await client.do(customer, account))["code"] == "account_exists"
        stranger = UpdatePointAccount(
            account_id=account.account_id, customer_id=random_id("cust"), name="x"
        )
        assert (await client.do(customer, stranger))["code"] == "account_not_found"

        # Closing needs a zero balance, as the ledger reports it.
        await client.watcher.wait_for(has_type("BalanceChanged", account_id=account.account_id))
        deposit = CreatePointTransaction(
            account_id=account.account_id,
            transaction_id=random_id("tx"),
            amount=5,
            kind=PointTransactionKind.DEPOSIT,
        )
        await send_envelope(
            producer, isolated.topic(LEDGER_COMMANDS), account.account_id, command(deposit)
        )
        await client.watcher.wait_for(
            has_type("BalanceChanged", account_id=account.account_id, balance=5)
        )
        # The event is on the topic; store-credit's copy follows a moment later, and
        # until it does, store-credit would judge the account by the copy before it.
        await copy_reaches(
            isolated, "store_credit", point_accounts.c.balance, account.account_id, 5, 30
        )
        close = UpdatePointAccount(
            account_id=account.account_id, customer_id=customer, status="closed"
        )
        refused = await client.do(customer, close)
        assert refused["code"] == "account_not_empty"
        assert "balance 5" in refused["reason"]

        empty = direct(customer)
        await client.do(customer, empty)
        await client.watcher.wait_for(
            has_type("BalanceChanged", account_id=empty.account_id, balance=0)
        )
        closing = UpdatePointAccount(
            account_id=empty.account_id, customer_id=customer, status="closed"
        )
        closed = await _eventually(client, customer, closing, None)
        assert closed["produced"]["status"] == "closed"
        await client.watcher.wait_for(has_type("LedgerAccountClosed", account_id=empty.account_id))
        again = UpdatePointAccount(account_id=empty.account_id, customer_id=customer, name="x")
        assert (await client.do(customer, again))["code"] == "account_closed"


async def _eventually(client: Any, key: str, payload: Any, code: str | None) -> dict[str, Any]:
    """The store-credit service learns balances from the ledger's events, a moment after
    the ledger publishes them: retry (new idempotency keys) until it answers as expected."""
    async with asyncio.timeout(30):
        while True:
            result: dict[str, Any] = await client.do(key, payload)
            if result["code"] == code:
                return result
            await asyncio.sleep(0.1)
