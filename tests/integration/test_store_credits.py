"""Store credits over real Kafka and PostgreSQL: issue, look up, lock out, top up,
validity codes; and the clear code never reaches a topic (but its one result),
the database or a log line."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text

from contracts.envelope import Actor, ActorKind, Message, new_envelope
from contracts.store_credit import (
    CreateStoreCredit,
    FindStoreCredit,
    ListCustomerStoreCredits,
    UpdateStoreCredit,
)
from contracts.topics import ALL_TOPICS, STORE_CREDIT_QUERIES, STORE_CREDIT_QUERY_REPLIES
from services.ledger.app import definition as ledger
from services.store_credit.app import definition as store_credit
from shared.runtime.broker import kafka_client_options
from shared.runtime.db import create_engine
from shared.runtime.settings import Settings
from shared.tools.request_client import RequestClient
from tests.integration.conftest import running
from tests.kafka_tools import ADMIN, has_type, read_all
from tests.random_refs import random_id
from tests.store_credit_client import make_store_credit


async def ask(settings: Settings, key: str, question: Message, actor: Actor = ADMIN) -> Any:
    async with RequestClient(
        settings.kafka_bootstrap_servers,
        settings.topic(STORE_CREDIT_QUERY_REPLIES),
        keyring=settings.keyring(),
        **kafka_client_options(settings),
    ) as client:
        return await client.request(
            settings.topic(STORE_CREDIT_QUERIES), key, new_envelope(question, actor=actor)
        )


async def test_store_credit_life_and_the_code_stays_secret(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with running(ledger, store_credit, settings=isolated):
        client = await make_store_credit(producer, isolated, watch)
        customer = random_id("cust")
        shopper = Actor(kind=ActorKind.CUSTOMER, id=customer)
        issue = CreateStoreCredit(
            store_credit_id=random_id("sc"),
            name="Credit for John Doe",
            amount=10_000,
            currency="USD",
            customer_id=customer,
            generate_external_id=True,
            reason="refund",
            references={"order_id": "o-42"},
        )
        created = await client.do(customer, issue)
        assert created["status"] == "accepted", created
        code = created["produced"]["code"]
        assert len(code) == 16 and code.isdigit()
        assert created["produced"]["external_id"] and len(created["produced"]["external_id"]) >= 32

        # A retry gets the first result with the code masked: it is given once.
        [event] = await client.watcher.wait_for(
            has_type("StoreCredit", store_credit_id=issue.store_credit_id)
        )
        assert event.json()["payload"]["code"] == "******" + code[-4:]
        await client.watcher.wait_for(has_type("BalanceChanged", balance=10_000))

        found = await ask(isolated, customer, FindStoreCredit(code=code, currency="USD"), shopper)
        credit = found.payload["store_credit"]
        assert (credit["code"], credit["usable"], credit["amount"]) == (
            "******" + code[-4:],
            True,
            10_000,
        )
        assert credit["balance"] == 10_000
        assert "token" not in credit and "token" not in event.json()["payload"]
        token = created["produced"]["token"]
        by_token = await ask(isolated, customer, FindStoreCredit(token=token), shopper)
        assert by_token.payload["store_credit"]["store_credit_id"] == issue.store_credit_id
        by_external = await ask(
            isolated, customer, FindStoreCredit(external_id=credit["external_id"])
        )
        assert by_external.payload["store_credit"]["store_credit_id"] == issue.store_credit_id
        wrong_currency = await ask(
            isolated, customer, FindStoreCredit(code=code, currency="EUR"), shopper
        )
        assert wrong_currency.payload["store_credit"]["unusable_code"] == "currency_mismatch"
        stranger = Actor(kind=ActorKind.CUSTOMER, id=random_id("cust"))
        for theirs in [FindStoreCredit(code=code), FindStoreCredit(token=token)]:
            # Another customer's credit answers as none at all, and counts as a wrong guess.
            refused = await ask(isolated, customer, theirs, stranger)
            assert refused.payload["code"] == "store_credit_not_found"
        by_external = await ask(
            isolated, customer, FindStoreCredit(external_id=credit["external_id"]), stranger
        )
        assert by_external.payload["code"] == "store_credit_not_found"

        # Top up: only above the balance; the difference goes through the ledger.
        low = await client.do(
            customer, UpdateStoreCredit(store_credit_id=issue.store_credit_id, amount=10_000)
        )
        assert low["code"] == "amount_not_above_balance"
        up = await client.do(
            customer, UpdateStoreCredit(store_credit_id=issue.store_credit_id, amount=12_500)
        )
        assert up["status"] == "accepted"
        await client.watcher.wait_for(has_type("BalanceChanged", balance=12_500))
        off = await client.do(
            customer,
            UpdateStoreCredit(
                store_credit_id=issue.store_credit_id,
                disabled=True,
                expiry_date=datetime.now(UTC) + timedelta(days=1),
            ),
        )
        assert off["status"] == "accepted"
        listed = await ask(
            isolated, customer, ListCustomerStoreCredits(customer_id=customer), shopper
        )
        [mine] = listed.payload["store_credits"]
        assert (mine["usable"], mine["unusable_code"]) == (False, "disabled")

        # Wrong codes: the fifth locks the customer out, even for the right code.
        locked_customer = Actor(kind=ActorKind.CUSTOMER, id=random_id("cust"))
        for _ in range(5):
            miss = await ask(
                isolated, "k", FindStoreCredit(code="0000111122223333"), locked_customer
            )
            assert miss.payload["code"] == "store_credit_not_found"
        locked = await ask(isolated, "k", FindStoreCredit(code=code), locked_customer)
        assert locked.payload["code"] == "locked_out"
        order_locked = [
            await ask(isolated, "k", FindStoreCredit(code="9999888877776666", order_id="ord-x"))
            for _ in range(5)
        ]
        assert order_locked[-1].payload["code"] == "store_credit_not_found"
        by_order = await ask(isolated, "k", FindStoreCredit(code=code, order_id="ord-x"))
        assert by_order.payload["code"] == "locked_out"

        for payload, wanted in [
            (issue, "store_credit_exists"),
            (
                issue.model_copy(update={"store_credit_id": random_id("sc"), "code": code}),
                "code_taken",
            ),
            (
                issue.model_copy(
                    update={"store_credit_id": random_id("sc"), "code": "abcd-efgh-ijkl"}
                ),
                "invalid_code",
            ),
        ]:
            refused = await client.do(customer, payload)
            assert refused["code"] == wanted, refused
            assert code not in str(refused)
        customer_issue = issue.model_copy(update={"store_credit_id": random_id("sc")})
        assert (await client.do(customer, customer_issue, shopper))["code"] == "forbidden"

    # The clear code and token: on no topic the platform writes but in their one result (clients
    # send it on commands and queries to look it up), nowhere in the database or logs.
    seen = []
    written_by_clients = (".commands", ".queries")
    for spec in [t for t in ALL_TOPICS if not t.name.endswith(written_by_clients)]:
        for record in await read_all(
            isolated.kafka_bootstrap_servers, isolated.topic(spec), **kafka_client_options(isolated)
        ):
            if code.encode() in record.value or token.encode() in record.value:
                seen.append(
                    (
                        record.topic,
                        record.json()["type"],
                        record.json()["payload"].get("command_type"),
                    )
                )
    assert seen == [
        (
            isolated.topic_prefix + "store-credit.command-results",
            "CommandResult",
            "CreateStoreCredit",
        )
    ]
    # aiokafka's own DEBUG lines dump raw records; services run it at WARNING
    # (shared.runtime.logging.configure_logging). Every other logger, at DEBUG, never shows it.
    leaks = [
        r.name
        for r in caplog.records
        if code in r.getMessage() and not r.name.startswith("aiokafka")
    ]
    assert leaks == []
    engine = create_engine(isolated.database_url_for("store_credit"))
    async with engine.connect() as connection:
        for table in ("store_credits", "inbox", "outbox", "code_attempts", "point_accounts"):
            rows = (
                (await connection.execute(text(f"SELECT t::text FROM {table} t"))).scalars().all()
            )
            assert not [r for r in rows if code in r], table
            assert not [r for r in rows if token in r], table
    await engine.dispose()
