"""A store credit whose last credit the ledger has not reported yet, over real Kafka
and PostgreSQL. The ledger is played by the test: it publishes the balance events
itself, so every in-between state can be looked at for as long as needed.

Right after an issue, the ledger reports the account's opening (balance 0) before
the initial credit. That 0 is not "nothing left": an authorization offers the
initial amount (the credit reached the ledger's commands before any hold asked on
the strength of that answer can), and a raise of the amount waits, since crediting
"new amount minus a balance short of the last credit" would credit that credit
twice. A later credit (a top-up) on its way is not counted: an empty copy then is
``balance_not_known`` (retryable), not ``no_balance``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from contracts.envelope import Actor, ActorKind, new_envelope
from contracts.ledger import BalanceChanged
from contracts.store_credit import AuthorizeStoreCredit, FindStoreCredit, UpdateStoreCredit
from contracts.topics import LEDGER_BALANCES, LEDGER_COMMANDS
from services.store_credit.app import definition as store_credit
from services.store_credit.credits import initial_credit_id, ledger_account_id
from services.store_credit.db import store_credits
from shared.runtime.db import create_engine
from shared.runtime.settings import Settings
from tests.integration.conftest import running
from tests.integration.test_store_credit_rules import credit
from tests.integration.test_store_credits import ask
from tests.kafka_tools import Record, has_type, send_envelope
from tests.random_refs import random_id
from tests.sealed import opened
from tests.store_credit_client import make_store_credit

ORDER_SERVICE = Actor(kind=ActorKind.SERVICE, id="order")
LEDGER = Actor(kind=ActorKind.SERVICE, id="ledger")


class PlayedLedger:
    """Publishes the ledger's balance events for one account, version by version."""

    def __init__(self, settings: Settings, producer: AIOKafkaProducer, account_id: str) -> None:
        self.settings = settings
        self.producer = producer
        self.account_id = account_id
        self.version = 0

    async def report(self, balance: int, transaction_id: str | None, holds: int = 0) -> None:
        self.version += 1
        change = BalanceChanged(
            account_id=self.account_id,
            unit="USD",
            balance=balance,
            holds=holds,
            available=balance - holds,
            version=self.version,
            transaction_id=transaction_id,
            changed_at=datetime.now(UTC),
        )
        await send_envelope(
            self.producer,
            self.settings.topic(LEDGER_BALANCES),
            self.account_id,
            new_envelope(change, actor=LEDGER),
        )
        await self._copied()

    async def _copied(self) -> None:
        engine = create_engine(self.settings.database_url_for("store_credit"))
        query = select(store_credits.c.ledger_version).where(
            store_credits.c.ledger_account_id == self.account_id
        )
        try:
            async with asyncio.timeout(60):
                while True:
                    async with engine.connect() as connection:
                        if await connection.scalar(query) == self.version:
                            return
                    await asyncio.sleep(0.05)
        finally:
            await engine.dispose()


async def test_a_credit_the_ledger_has_not_reported_is_waited_for_never_counted_twice(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    async with running(store_credit, settings=isolated):
        client = await make_store_credit(producer, isolated, watch)
        ledger_commands = await watch(isolated.topic(LEDGER_COMMANDS))
        customer = random_id("cust")
        issued = credit(customer_id=customer, amount=3_000)
        accepted = await client.do(customer, issued)
        token = opened(accepted["produced"])["token"]
        account = ledger_account_id(issued.store_credit_id)
        ledger = PlayedLedger(isolated, producer, account)

        def authorize() -> AuthorizeStoreCredit:
            return AuthorizeStoreCredit(
                application_id=random_id("app"),
                order_id=random_id("ord"),
                customer_id=customer,
                currency="USD",
                store_credit_id=issued.store_credit_id,
            )

        async def raise_to(amount: int) -> dict[str, Any]:
            change = UpdateStoreCredit(store_credit_id=issued.store_credit_id, amount=amount)
            return await client.do(customer, change)

        def top_ups(record: Record) -> bool:
            if record.headers.get("type") != "CreatePointTransaction":
                return False
            return "-topup-" in record.json()["payload"]["transaction_id"]

        async def shown_balance() -> Any:
            found = await ask(isolated, customer, FindStoreCredit(token=token))
            return found.payload["store_credit"]["balance"]

        await ledger.report(0, None)  # the opening, before the initial credit
        early = await client.do(customer, authorize(), ORDER_SERVICE)
        assert early["status"] == "accepted", early  # the initial credit is on its way
        assert early["produced"]["available"] == 3_000
        refused_raise = await raise_to(4_000)
        assert (refused_raise["code"], refused_raise["retryable"]) == ("balance_not_known", True)
        assert await shown_balance() is None  # not the opening's 0

        await ledger.report(3_000, initial_credit_id(issued.store_credit_id))
        authorized = await client.do(customer, authorize(), ORDER_SERVICE)
        assert authorized["status"] == "accepted", authorized
        assert authorized["produced"]["available"] == 3_000
        assert await shown_balance() == 3_000

        # Spent down to 1,000, then raised to 4,000: 3,000 is credited, once.
        await ledger.report(1_000, random_id("spend"))
        assert (await raise_to(4_000))["status"] == "accepted"
        [top_up] = await ledger_commands.wait_for(top_ups)
        top_up_id = top_up.json()["payload"]["transaction_id"]
        assert top_up.json()["payload"]["amount"] == 3_000
        # Raised again before the ledger reports that credit: from the stale 1,000
        # it would credit 4,000 instead of 1,000.
        waiting = await raise_to(5_000)
        assert (waiting["code"], waiting["retryable"]) == ("balance_not_known", True), waiting
        # Meanwhile what the copy has is offered as it is (the ledger checks the rest),
        # and an empty copy with a credit on its way is "not known", not "none left".
        partly = await client.do(customer, authorize(), ORDER_SERVICE)
        assert partly["produced"]["available"] == 1_000, partly
        await ledger.report(1_000, random_id("hold"), holds=1_000)
        not_empty = await client.do(customer, authorize(), ORDER_SERVICE)
        assert not_empty["code"] == "balance_not_known", not_empty

        await ledger.report(4_000, top_up_id, holds=1_000)
        assert (await raise_to(5_000))["status"] == "accepted"
        credits = await ledger_commands.wait_for(top_ups, count=2)
        assert [r.json()["payload"]["amount"] for r in credits] == [3_000, 1_000]
        initial = initial_credit_id(issued.store_credit_id)
        assert ledger_commands.matching(has_type("CreatePointTransaction", transaction_id=initial))
