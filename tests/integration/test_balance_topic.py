"""A new subscriber rebuilds every current balance from the compacted topic alone."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer

from contracts.ledger import CommitPointTransaction
from contracts.topics import LEDGER_BALANCES
from shared.runtime.broker import kafka_client_options
from shared.runtime.service import ServiceRuntime
from shared.runtime.settings import Settings
from tests.kafka_tools import has_type, read_all
from tests.ledger_client import ledger_state, make_ledger
from tests.random_refs import random_id


async def test_the_latest_balance_event_per_account_is_its_balance(
    ledger: ServiceRuntime, producer: AIOKafkaProducer, settings: Settings, watch: Any
) -> None:
    client = await make_ledger(producer, settings, watch)
    unit = random_id("points")
    first, second = await client.open(unit=unit), await client.open(unit=unit)
    await client.do(first, client.post(first, 120))
    hold = client.post(first, -20, "spend", status="pending")
    await client.do(first, hold)
    await client.do(second, client.post(second, 7))
    await client.do(
        first,
        CommitPointTransaction(account_id=first, transaction_id=hold.transaction_id, amount=-5),
    )

    # Results are published before the events of the same command: wait for the last event.
    await client.watcher.wait_for(
        has_type("BalanceChanged", account_id=first, transaction_id=hold.transaction_id, holds=0)
    )
    rebuilt: dict[str, dict[str, Any]] = {}
    versions: dict[str, list[int]] = {}
    for record in await read_all(
        settings.kafka_bootstrap_servers,
        settings.topic(LEDGER_BALANCES),
        **kafka_client_options(settings),
    ):
        payload = record.json()["payload"]
        if payload["account_id"] in (first, second):
            assert record.key == payload["account_id"].encode()
            rebuilt[payload["account_id"]] = payload
            versions.setdefault(payload["account_id"], []).append(payload["version"])

    for account_id in (first, second):
        state = await ledger_state(ledger.sessions, account_id)
        latest = rebuilt[account_id]
        assert (latest["balance"], latest["holds"]) == (state["balance"], state["holds"])
        assert latest["available"] == latest["balance"] - latest["holds"]
        assert versions[account_id] == sorted(versions[account_id])  # in order, per key
    assert (rebuilt[first]["balance"], rebuilt[first]["holds"]) == (115, 0)
