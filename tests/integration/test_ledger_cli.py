"""The operator's command line asks the ledger over Kafka like any client."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from contracts.ledger import GetAccountBalances, GetTransactionHistory
from shared.runtime.service import ServiceRuntime
from shared.runtime.settings import Settings
from shared.tools.ledger_cli import ask
from tests.ledger_client import make_ledger
from tests.random_refs import random_id


async def test_balance_and_history_from_the_command_line(
    ledger: ServiceRuntime,
    producer: AIOKafkaProducer,
    settings: Settings,
    watch: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = await make_ledger(producer, settings, watch)
    account_id = await client.open()
    deposit = client.post(account_id, 42)
    await client.do(account_id, deposit)

    assert await ask(settings, account_id, GetAccountBalances(account_id=account_id)) == 0
    balance = json.loads(capsys.readouterr().out)
    assert (balance["type"], balance["balance"], balance["available"]) == (
        "AccountBalances",
        42,
        42,
    )

    assert await ask(settings, account_id, GetTransactionHistory(account_id=account_id)) == 0
    history = json.loads(capsys.readouterr().out)
    assert [t["transaction_id"] for t in history["transactions"]] == [deposit.transaction_id]

    missing = random_id("acct")
    assert await ask(settings, missing, GetAccountBalances(account_id=missing)) == 1
    assert json.loads(capsys.readouterr().out)["code"] == "account_not_found"
