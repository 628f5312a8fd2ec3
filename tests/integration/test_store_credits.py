"""Store credits over real Kafka and PostgreSQL: issue, look up, lock out, top up,
validity codes; and the clear code and token never reach a topic (they come back
sealed to their requester alone), the database or a log line."""

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
from tests.kafka_tools import ADMIN, command, has_type, read_all
from tests.random_refs import random_id
from tests.sealed import REPLY_PUBLIC_KEY, find_by_code, opened, sealed
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
            reply_public_key=REPLY_PUBLIC_KEY,
        )
        first = command(issue, key=random_id("create"))
        created = await client.ask(customer, first)
        assert created["status"] == "accepted", created
        produced = opened(created["produced"])
        code, token = produced["code"], produced["token"]
        assert len(code) == 16 and code.isdigit() and len(token) == 64
        assert created["produced"]["code"] == "******" + code[-4:]  # clear only once opened
        assert created["produced"]["external_id"] and len(created["produced"]["external_id"]) >= 32
        # A retry gets the first result without the sealed code and token: given once.
        retried = await client.ask(customer, command(issue, key=first.idempotency_key))
        assert retried["status"] == "accepted", retried
        assert (retried["produced"]["sealed_code"], retried["produced"]["sealed_token"]) == (
            None,
            None,
        )

        [event] = await client.watcher.wait_for(
            has_type("StoreCredit", store_credit_id=issue.store_credit_id)
        )
        assert event.json()["payload"]["code"] == "******" + code[-4:]
        await client.watcher.wait_for(has_type("BalanceChanged", balance=10_000))

        found = await ask(isolated, customer, find_by_code(code, shopper, currency="USD"), shopper)
        credit = found.payload["store_credit"]
        assert (credit["code"], credit["usable"], credit["amount"]) == (
            "******" + code[-4:],
            True,
            10_000,
        )
        assert credit["balance"] == 10_000
        assert "token" not in credit and "token" not in event.json()["payload"]
        by_token = await ask(isolated, customer, FindStoreCredit(token=token), shopper)
        assert by_token.payload["store_credit"]["store_credit_id"] == issue.store_credit_id
        by_external = await ask(
            isolated, customer, FindStoreCredit(external_id=credit["external_id"])
        )
        assert by_external.payload["store_credit"]["store_credit_id"] == issue.store_credit_id
        wrong_currency = await ask(
            isolated, customer, find_by_code(code, shopper, currency="EUR"), shopper
        )
        assert wrong_currency.payload["store_credit"]["unusable_code"] == "currency_mismatch"
        stranger = Actor(kind=ActorKind.CUSTOMER, id=random_id("cust"))
        for theirs in [find_by_code(code, stranger), FindStoreCredit(token=token)]:
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
        assert listed.payload["next_offset"] is None
        usable = await ask(
            isolated,
            customer,
            ListCustomerStoreCredits(customer_id=customer, usable_only=True),
            shopper,
        )
        assert usable.payload["store_credits"] == []

        # Wrong codes: the fifth locks the customer out, even for the right code.
        locked_customer = Actor(kind=ActorKind.CUSTOMER, id=random_id("cust"))
        for _ in range(5):
            miss = await ask(
                isolated, "k", find_by_code("0000111122223333", locked_customer), locked_customer
            )
            assert miss.payload["code"] == "store_credit_not_found"
        locked = await ask(isolated, "k", find_by_code(code, locked_customer), locked_customer)
        assert locked.payload["code"] == "locked_out"
        order_locked = [
            await ask(isolated, "k", find_by_code("9999888877776666", ADMIN, order_id="ord-x"))
            for _ in range(5)
        ]
        assert order_locked[-1].payload["code"] == "store_credit_not_found"
        by_order = await ask(isolated, "k", find_by_code(code, ADMIN, order_id="ord-x"))
        assert by_order.payload["code"] == "locked_out"

        for payload, wanted in [
            (issue, "store_credit_exists"),
            (
                issue.model_copy(
                    update={"store_credit_id": random_id("sc"), "sealed_code": sealed(code, ADMIN)}
                ),
                "code_taken",
            ),
            (
                issue.model_copy(
                    update={
                        "store_credit_id": random_id("sc"),
                        "sealed_code": sealed("abcd-efgh-ijkl", ADMIN),
                    }
                ),
                "invalid_code",
            ),
        ]:
            refused = await client.do(customer, payload)
            assert refused["code"] == wanted, refused
            assert code not in str(refused)
        customer_issue = issue.model_copy(update={"store_credit_id": random_id("sc")})
        assert (await client.do(customer, customer_issue, shopper))["code"] == "forbidden"

    # The clear code: on no topic at all (clients send it sealed, it comes back sealed); the
    # token (it finds only its owner's credit) on none the platform writes; neither anywhere
    # in the database or logs.
    seen = []
    for spec in ALL_TOPICS:
        by_clients = spec.name.endswith((".commands", ".queries"))
        for record in await read_all(
            isolated.kafka_bootstrap_servers, isolated.topic(spec), **kafka_client_options(isolated)
        ):
            held = record.value + (record.key or b"") + str(record.headers).encode()
            if code.encode() in held or (token.encode() in held and not by_clients):
                seen.append((record.topic, record.json()["type"]))
    assert seen == []
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
        # the result that carried them sealed is emptied once published
        sealed_rows = text("SELECT octet_length(value) FROM outbox WHERE secret")
        assert (await connection.execute(sealed_rows)).scalars().all() == [0]
        for table in ("store_credits", "inbox", "outbox", "code_attempts", "point_accounts"):
            rows = (
                (await connection.execute(text(f"SELECT t::text FROM {table} t"))).scalars().all()
            )
            assert not [r for r in rows if code in r], table
            assert not [r for r in rows if token in r], table
    await engine.dispose()
