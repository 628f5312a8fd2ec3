"""A ledger command published to Kafka is stored once and answered once,
also when the same command is published twice."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select

from contracts.ledger import CreatePointTransaction, OpenLedgerAccount, PointTransactionKind
from contracts.topics import LEDGER_BALANCES, LEDGER_COMMAND_RESULTS, LEDGER_COMMANDS
from services.ledger.db import ledger_accounts, point_transactions, postings
from shared.runtime.service import ServiceRuntime
from shared.runtime.settings import Settings
from tests.kafka_tools import command, has_type, is_result_of, send_envelope
from tests.random_refs import random_id


async def open_account(
    producer: AIOKafkaProducer, settings: Settings, watcher: Any, unit: str
) -> str:
    account_id = random_id("acct")
    opening = command(OpenLedgerAccount(account_id=account_id, unit=unit))
    await send_envelope(producer, settings.topic(LEDGER_COMMANDS), account_id, opening)
    [result] = await watcher.wait_for(is_result_of(opening))
    assert result.json()["payload"]["status"] == "accepted"
    return account_id


async def test_command_published_twice_is_applied_and_answered_once(
    ledger: ServiceRuntime, producer: AIOKafkaProducer, settings: Settings, watch: Any
) -> None:
    results = settings.topic(LEDGER_COMMAND_RESULTS)
    balances = settings.topic(LEDGER_BALANCES)
    watcher = await watch(results, balances)
    unit = random_id("points")
    account_id = await open_account(producer, settings, watcher, unit)

    transaction_id = random_id("tx")
    deposit = command(
        CreatePointTransaction(
            account_id=account_id,
            transaction_id=transaction_id,
            amount=500,
            kind=PointTransactionKind.DEPOSIT,
        )
    )
    topic = settings.topic(LEDGER_COMMANDS)
    await send_envelope(producer, topic, account_id, deposit)
    await send_envelope(producer, topic, account_id, deposit)
    # A later command on the same key is handled after both copies (one
    # partition, in order), so once its balance event is out, so are theirs.
    fence = command(
        CreatePointTransaction(
            account_id=account_id,
            transaction_id=random_id("tx"),
            amount=1,
            kind=PointTransactionKind.DEPOSIT,
        )
    )
    await send_envelope(producer, topic, account_id, fence)
    await watcher.wait_for(has_type("BalanceChanged", account_id=account_id, balance=501))
    await watcher.wait_for(is_result_of(fence))  # the same results partition, after the deposit's

    [result] = watcher.matching(is_result_of(deposit))
    body = result.json()
    assert body["payload"]["status"] == "accepted"
    assert body["payload"]["produced"]["balance"] == 500
    assert body["correlation_id"] == deposit.correlation_id
    assert body["causation_id"] == str(deposit.message_id)
    assert result.key == account_id.encode()
    assert result.headers["type"] == "CommandResult"
    assert result.headers["correlation-id"] == deposit.correlation_id

    changes = watcher.matching(has_type("BalanceChanged", transaction_id=transaction_id))
    assert len(changes) == 1
    change = changes[0].json()["payload"]
    assert (change["balance"], change["holds"], change["available"]) == (500, 0, 500)
    assert changes[0].key == account_id.encode()

    async with ledger.sessions() as session:
        stored = await session.scalar(
            select(func.count()).where(point_transactions.c.id == transaction_id)
        )
        balance = await session.scalar(
            select(ledger_accounts.c.balance).where(ledger_accounts.c.id == account_id)
        )
        unit_sum = await session.scalar(
            select(func.sum(postings.c.amount)).where(postings.c.unit == unit)
        )
        account_sum = await session.scalar(
            select(func.sum(postings.c.amount)).where(postings.c.account_id == account_id)
        )
    assert stored == 1
    assert balance == account_sum == 501
    assert unit_sum == 0  # double entry: the unit's balances sum to zero
