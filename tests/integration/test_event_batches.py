"""Event consumers take a poll's events in one transaction; a bug in one event undoes the
batch, which is then handled an event at a time: only that event is parked, every other
one is handled once, and an undecodable record among them is parked too."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import dead_letters
from contracts.envelope import Actor, ActorKind, new_envelope
from contracts.ledger import BalanceChanged, LedgerAccountOpened
from contracts.topics import LEDGER_BALANCES, LEDGER_DEAD_LETTERS, LEDGER_EVENTS
from services.ledger.app import definition as ledger_definition
from shared.runtime.codec import Incoming
from shared.runtime.commands import HandlerContext
from shared.runtime.outbox import Outgoing
from shared.runtime.settings import Settings
from shared.runtime.subscriptions import EventRoute, Subscription
from tests.integration.conftest import running
from tests.kafka_tools import send, send_envelope
from tests.random_refs import random_id

SEEN_VERSION = 4242
"""The version the probe's messages carry, to tell them from the ledger's own."""


async def seen_or_boom(
    _: AsyncSession, incoming: Incoming[Any], __: HandlerContext
) -> list[Outgoing]:
    opened = incoming.payload
    if opened.account_id.startswith("boom"):
        raise RuntimeError("a bug in the event handler")
    seen = BalanceChanged(
        account_id=opened.account_id,
        unit=opened.unit,
        balance=0,
        holds=0,
        available=0,
        version=SEEN_VERSION,
        transaction_id=None,
        changed_at=datetime.now(UTC),
    )
    return [Outgoing(LEDGER_BALANCES, opened.account_id, seen)]


async def test_a_bug_in_one_event_of_a_batch_parks_only_that_event(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    probe = Subscription(
        "probe",
        LEDGER_EVENTS,
        {"LedgerAccountOpened": EventRoute(LedgerAccountOpened, seen_or_boom)},
    )
    with_probe = replace(ledger_definition, subscriptions=(probe,))
    key = random_id("key")
    accounts = [random_id("acct"), random_id("boom"), random_id("acct"), random_id("acct")]
    system = Actor(kind=ActorKind.SERVICE, id="ledger")
    topic = isolated.topic(LEDGER_EVENTS)
    for number, account in enumerate(accounts):
        opened = LedgerAccountOpened(
            account_id=account,
            unit="points",
            customer_id=None,
            allow_negative=False,
            negative_limit=None,
        )
        await send_envelope(producer, topic, key, new_envelope(opened, actor=system))
        if number == 1:
            await send(producer, topic, key, b"\xff not an envelope", {})
    watcher = await watch(isolated.topic(LEDGER_BALANCES), isolated.topic(LEDGER_DEAD_LETTERS))

    def seen(record: Any) -> bool:
        return record.topic == isolated.topic(LEDGER_BALANCES) and bool(
            record.json()["payload"]["version"] == SEEN_VERSION
        )

    # The probe reads the ledger's own events, which the ledger's principal may not (the
    # access table): this made-up service runs as the test's admin instead.
    as_admin = isolated.model_copy(update={"kafka_passwords": None})
    async with running(with_probe, settings=as_admin):  # all were waiting: one poll takes them
        parked = await watcher.wait_for(
            lambda r: r.topic == isolated.topic(LEDGER_DEAD_LETTERS), count=2
        )
        handled = await watcher.wait_for(seen, count=3)

    assert sorted(r.json()["payload"]["account_id"] for r in handled) == sorted(
        a for a in accounts if not a.startswith("boom")
    )
    messages = {r.json()["message_id"] for r in watcher.matching(seen)}
    assert len(messages) == 3  # each handled once (the relay may publish a row twice)
    reasons = sorted(r.headers.get(dead_letters.REASON, "") for r in parked)
    assert reasons == ["handler_failed", "undecodable"], [r.headers for r in parked]
