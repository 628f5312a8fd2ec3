"""The balance topic against the ledger: what other teams read must be what the ledger holds.

``ledger.balances`` is compacted: the latest ``BalanceChanged`` of an account is its
balance for every subscriber. For each customer account of the ledger, that latest
record (the highest version) must show the ledger's balance and holds. One still
behind may be a change in flight: it is looked at again after the settle time, and
reported only if the topic has not caught up (an event lost between the ledger's
outbox and Kafka, or published wrong).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.topics import LEDGER_BALANCES
from services.ledger.db import ledger_accounts as accounts
from shared.runtime.broker import kafka_client_options
from shared.runtime.settings import Settings
from shared.tools.invariants.model import Violation, violation
from shared.tools.topic_watch import partitions_of

NAMES = ("balance_topic_stale", "balance_topic_mismatch")
DESCRIBES = (
    "the latest BalanceChanged of every customer account on ledger.balances shows the "
    "ledger's balance and holds (after the settle time)"
)


@dataclass(frozen=True)
class Seen:
    balance: int
    holds: int
    version: int


Latest = Mapping[str, Seen]
ReadTopic = Callable[[], Awaitable[dict[str, Seen]]]


async def ledger_balances(connection: AsyncConnection) -> dict[str, Seen]:
    rows = await connection.execute(
        select(accounts.c.id, accounts.c.balance, accounts.c.holds, accounts.c.version).where(
            accounts.c.kind == "customer"
        )
    )
    return {row.id: Seen(row.balance, row.holds, row.version) for row in rows}


def topic_reader(settings: Settings) -> ReadTopic:
    """Reads the whole balance topic, keeping each account's highest version."""

    async def read() -> dict[str, Seen]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **kafka_client_options(settings),
        )
        await consumer.start()
        try:
            partitions = await partitions_of(consumer, settings.topic(LEDGER_BALANCES))
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            latest: dict[str, Seen] = {}
            while await _short_of(consumer, ends):
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for record in records:
                        _keep(latest, record.value)
            return latest
        finally:
            await consumer.stop()

    return read


async def _short_of(consumer: AIOKafkaConsumer, ends: Mapping[Any, int]) -> bool:
    for partition, end in ends.items():
        if await consumer.position(partition) < end:
            return True
    return False


def _keep(latest: dict[str, Seen], value: bytes | None) -> None:
    try:
        body: Any = json.loads(value or b"")
        payload = body["payload"]
        seen = Seen(int(payload["balance"]), int(payload["holds"]), int(payload["version"]))
        account_id = str(payload["account_id"])
    except (ValueError, KeyError, TypeError):
        return  # not a BalanceChanged (the ledger's consumers dead-letter such records)
    if account_id not in latest or latest[account_id].version <= seen.version:
        latest[account_id] = seen


def compare(ledger: Latest, topic: Latest) -> tuple[list[Violation], list[str]]:
    """Violations at once (the topic shows the ledger's version with other balances),
    and the accounts whose latest record is older than the ledger (maybe in flight).

    The topic is read after the ledger's snapshot, so it may be ahead: that is fine.
    Every change of an account's version is announced, so once the topic has the
    ledger's version it must show the ledger's balance and holds.
    """
    found, behind = [], []
    for account_id, held in ledger.items():
        shown = topic.get(account_id)
        if shown is None or shown.version < held.version:
            behind.append(account_id)
        elif shown.version == held.version and (shown.balance, shown.holds) != (
            held.balance,
            held.holds,
        ):
            found.append(
                violation(
                    "balance_topic_mismatch",
                    ("ledger",),
                    f"ledger.balances shows account {account_id} at version {held.version} "
                    f"with balance {shown.balance} and holds {shown.holds}; the ledger has "
                    f"balance {held.balance} and holds {held.holds} at that version.",
                    account_id=account_id,
                )
            )
    return found, behind


def still_behind(ledger: Latest, topic: Latest, accounts_behind: list[str]) -> list[Violation]:
    """The accounts the topic has still not caught up with after the settle time."""
    found = []
    for account_id in accounts_behind:
        held, shown = ledger[account_id], topic.get(account_id)
        if shown is not None and shown.version >= held.version:
            continue
        said = "no record" if shown is None else f"version {shown.version} at most"
        found.append(
            violation(
                "balance_topic_stale",
                ("ledger",),
                f"ledger.balances has {said} for account {account_id}; the ledger was at "
                f"version {held.version} (balance {held.balance}, holds {held.holds}).",
                account_id=account_id,
            )
        )
    return found
