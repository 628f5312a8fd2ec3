"""Inbox replay, key reuse, rejections: every command gets exactly one clear answer."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select

from contracts.envelope import Actor, ActorKind
from contracts.ledger import OpenLedgerAccount
from services.ledger.db import ledger_accounts, point_transactions
from shared.runtime.service import ServiceRuntime
from shared.runtime.settings import Settings
from tests.kafka_tools import command, has_type, is_result_of
from tests.ledger_client import make_ledger
from tests.random_refs import random_id


async def test_a_retry_with_the_same_key_gets_the_first_result_and_changes_nothing(
    ledger: ServiceRuntime, producer: AIOKafkaProducer, settings: Settings, watch: Any
) -> None:
    client = await make_ledger(producer, settings, watch)
    account_id = await client.open()
    deposit = client.post(account_id, 300)
    key = random_id("idem")

    first = await client.ask(account_id, command(deposit, key=key))
    retry = await client.ask(account_id, command(deposit, key=key))  # new message id, same key

    assert first["status"] == retry["status"] == "accepted"
    assert retry["command_id"] == first["command_id"]
    assert (
        retry["produced"]
        == first["produced"]
        == {
            "transaction_id": deposit.transaction_id,
            "account_id": account_id,
            "status": "committed",
            "balance": 300,
            "holds": 0,
            "available": 300,
        }
    )
    async with ledger.sessions() as session:
        count = await session.scalar(
            select(func.count()).where(point_transactions.c.account_id == account_id)
        )
        balance = await session.scalar(
            select(ledger_accounts.c.balance).where(ledger_accounts.c.id == account_id)
        )
    assert (count, balance) == (1, 300)


async def test_the_same_key_with_another_payload_is_rejected(
    ledger: ServiceRuntime, producer: AIOKafkaProducer, settings: Settings, watch: Any
) -> None:
    client = await make_ledger(producer, settings, watch)
    account_id = await client.open()
    key = random_id("idem")
    await client.ask(account_id, command(client.post(account_id, 100), key=key))

    reused = await client.ask(account_id, command(client.post(account_id, 999), key=key))

    assert reused["status"] == "rejected"
    assert reused["code"] == "idempotency_key_reused"
    assert "another payload" in reused["reason"]
    async with ledger.sessions() as session:
        balance = await session.scalar(
            select(ledger_accounts.c.balance).where(ledger_accounts.c.id == account_id)
        )
    assert balance == 100


async def test_a_rejection_is_recorded_and_its_retry_gets_the_same_rejection(
    ledger: ServiceRuntime, producer: AIOKafkaProducer, settings: Settings, watch: Any
) -> None:
    client = await make_ledger(producer, settings, watch)
    account_id = await client.open()
    spend = client.post(account_id, -50, "spend")
    key = random_id("idem")

    rejected = await client.ask(account_id, command(spend, key=key))
    assert rejected["status"] == "rejected"
    assert rejected["code"] == "insufficient_funds"
    assert "0 available" in rejected["reason"]

    await client.ask(account_id, command(client.post(account_id, 100)))
    # The same command again: the first answer stands; it is not re-evaluated.
    again = await client.ask(account_id, command(spend, key=key))
    assert (again["status"], again["code"]) == ("rejected", "insufficient_funds")
    async with ledger.sessions() as session:
        exists = await session.scalar(
            select(func.count()).where(point_transactions.c.id == spend.transaction_id)
        )
    assert exists == 0


async def test_rejections_carry_a_code_and_a_sentence(
    ledger: ServiceRuntime, producer: AIOKafkaProducer, settings: Settings, watch: Any
) -> None:
    client = await make_ledger(producer, settings, watch)
    account_id = await client.open()
    customer = Actor(kind=ActorKind.CUSTOMER, id=random_id("cust"))
    missing = random_id("acct")
    cases = [
        # Another's account, to a customer: as if there were none.
        (account_id, command(client.post(account_id, 10), actor=customer), "account_not_found"),
        (missing, command(client.post(missing, 10)), "account_not_found"),
        (account_id, command(client.post(account_id, 10, "spend")), "invalid_amount"),
        (account_id, command(client.post(account_id, -10, "reversal")), "use_reverse_command"),
        (
            account_id,
            command(OpenLedgerAccount(account_id=account_id, unit="USD")),
            "account_exists",
        ),
        (
            random_id("acct"),
            command(OpenLedgerAccount(account_id=random_id("acct"), unit="USD"), actor=customer),
            "forbidden",
        ),
    ]
    for key, envelope, code in cases:
        result = await client.ask(key, envelope)
        assert (result["status"], result["code"]) == ("rejected", code), result
        assert result["reason"] and result["reason"].endswith(".")


async def test_opening_an_account_twice_with_the_same_terms_is_accepted_once(
    ledger: ServiceRuntime, producer: AIOKafkaProducer, settings: Settings, watch: Any
) -> None:
    client = await make_ledger(producer, settings, watch)
    account_id = await client.open(unit="USD")
    again = await client.ask(
        account_id, command(OpenLedgerAccount(account_id=account_id, unit="USD"))
    )
    assert again["status"] == "accepted"
    assert again["produced"] == {"account_id": account_id, "already_open": True}
    # A later change of the same account comes after anything the two openings
    # published on the balance topic (one key, one partition, in order).
    await client.ask(account_id, command(client.post(account_id, 1)))
    await client.watcher.wait_for(has_type("BalanceChanged", account_id=account_id, balance=1))
    opened = client.watcher.matching(has_type("BalanceChanged", account_id=account_id, version=0))
    assert len(opened) == 1


async def test_an_account_never_goes_below_zero_unless_allowed_and_then_only_to_its_limit(
    ledger: ServiceRuntime, producer: AIOKafkaProducer, settings: Settings, watch: Any
) -> None:
    client = await make_ledger(producer, settings, watch)
    strict = await client.open()
    overdraft = await client.open(allow_negative=True, negative_limit=100)

    assert (await client.ask(strict, command(client.post(strict, 40))))["status"] == "accepted"
    exact = await client.ask(strict, command(client.post(strict, -40, "spend")))
    assert exact["produced"]["balance"] == 0
    within = await client.ask(overdraft, command(client.post(overdraft, -100, "spend")))
    assert within["produced"]["balance"] == -100
    beyond = await client.ask(overdraft, command(client.post(overdraft, -1, "spend")))
    assert beyond["code"] == "insufficient_funds"


async def test_a_message_id_reused_for_another_command_loses_neither(
    ledger: ServiceRuntime, producer: AIOKafkaProducer, settings: Settings, watch: Any
) -> None:
    """Message ids should be unique, but a client that copies an example and changes
    only the key and payload must not have the second command's result and effects
    taken for the first one's (they are derived from message id *and* key)."""
    client = await make_ledger(producer, settings, watch)
    account_id = await client.open()
    first = command(client.post(account_id, 100), key=random_id("idem"))
    second = first.model_copy(
        update={"idempotency_key": random_id("idem"), "payload": client.post(account_id, 200)}
    )
    await client.send(account_id, first)
    await client.send(account_id, second)

    results = await client.watcher.wait_for(is_result_of(first), count=2)
    answered = {r.json()["payload"]["idempotency_key"]: r.json()["payload"] for r in results}
    assert set(answered) == {first.idempotency_key, second.idempotency_key}
    assert all(a["status"] == "accepted" for a in answered.values()), answered
    await client.watcher.wait_for(has_type("BalanceChanged", account_id=account_id, balance=300))
