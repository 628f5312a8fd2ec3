"""An event route declared ``in_transaction=False`` runs an event that comes alone outside
a transaction: each statement commits by itself (no BEGIN, no COMMIT: one round trip
for a one-statement copy instead of three), and the pooled connection goes back
transactional. In a batch its events share the batch's transaction as any other."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from contracts.envelope import Actor, ActorKind, new_envelope
from contracts.ledger import LedgerAccountOpened
from contracts.topics import LEDGER_BALANCES, LEDGER_EVENTS
from services.ledger.db import ledger_accounts
from shared.runtime.codec import Incoming, decode, encode
from shared.runtime.commands import HandlerContext
from shared.runtime.db import SessionFactory, count_round_trips, create_session_factory
from shared.runtime.outbox import Outgoing
from shared.runtime.settings import Settings
from shared.runtime.subscriptions import (
    EventProcessor,
    EventRoute,
    PublishedOutsideTransaction,
    Subscription,
)
from tests.random_refs import random_id

UNIT = "points:outside-transaction"


class Probe:
    """A handler that writes an account named after the event, then asks whether its
    transaction still holds that write (a transaction id assigned: it does)."""

    def __init__(self) -> None:
        self.write_still_open: list[bool] = []

    async def handle(
        self, session: AsyncSession, incoming: Incoming[Any], _: HandlerContext
    ) -> list[Outgoing]:
        account_id = incoming.payload.account_id
        await session.execute(
            ledger_accounts.insert().values(id=account_id, unit=UNIT, kind="system")
        )
        assigned = await session.scalar(text("SELECT pg_current_xact_id_if_assigned()"))
        self.write_still_open.append(assigned is not None)
        if account_id.startswith("boom"):
            raise RuntimeError("a bug after the write")
        if account_id.startswith("talk"):
            return [Outgoing(LEDGER_BALANCES, account_id, incoming.payload)]
        return []


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[tuple[SessionFactory, list[int]]]:
    """Sessions on one pooled connection (so the next session gets the same one), and
    the round trips they made."""
    engine = create_async_engine(settings.database_url_for("ledger"), pool_size=1, max_overflow=0)
    counted: list[int] = []
    count_round_trips(engine, lambda: counted.append(1))
    try:
        yield create_session_factory(engine), counted
    finally:
        await engine.dispose()


def _processor(settings: Settings, sessions: SessionFactory, probe: Probe) -> EventProcessor:
    route = EventRoute(LedgerAccountOpened, probe.handle, deduplicate=False, in_transaction=False)
    return EventProcessor(
        service="ledger",
        subscription=Subscription("probe", LEDGER_EVENTS, {"LedgerAccountOpened": route}),
        settings=settings,
        sessions=sessions,
        after_commit=lambda: None,
    )


def _event(processor: EventProcessor, account_id: str) -> Incoming[Any]:
    opened = LedgerAccountOpened(
        account_id=account_id,
        unit=UNIT,
        customer_id=None,
        allow_negative=False,
        negative_limit=None,
    )
    envelope = new_envelope(opened, actor=Actor(kind=ActorKind.SERVICE, id="ledger"))
    return decode(encode(envelope), processor.known)


async def _kept(sessions: SessionFactory, *account_ids: str) -> set[str]:
    async with sessions() as session:
        found = await session.scalars(
            select(ledger_accounts.c.id).where(ledger_accounts.c.id.in_(account_ids))
        )
        return set(found)


@pytest.mark.parametrize("alone", [True, False], ids=["process", "batch of one"])
async def test_an_event_alone_commits_each_statement_by_itself(
    settings: Settings, sessions: tuple[SessionFactory, list[int]], alone: bool
) -> None:
    factory, counted = sessions
    probe = Probe()
    processor = _processor(settings, factory, probe)
    account_id = random_id("alone")
    incoming = _event(processor, account_id)
    await _kept(factory, account_id)  # the connection made (and the dialect's first queries)
    counted.clear()

    if alone:
        await processor.process(incoming)
    else:
        await processor.process_batch([incoming])

    assert probe.write_still_open == [False]  # the INSERT had committed by itself
    assert len(counted) == 2  # the two statements; no BEGIN, no COMMIT
    assert await _kept(factory, account_id) == {account_id}

    undone = random_id("undone")
    async with factory() as session:
        level = await session.scalar(text("SHOW transaction_isolation"))
        await session.execute(ledger_accounts.insert().values(id=undone, unit=UNIT, kind="system"))
        await session.rollback()
    assert level == "read committed"  # the same pooled connection, back to its default
    assert await _kept(factory, undone) == set()


async def test_in_a_batch_the_events_share_its_transaction(
    settings: Settings, sessions: tuple[SessionFactory, list[int]]
) -> None:
    factory, _ = sessions
    probe = Probe()
    processor = _processor(settings, factory, probe)
    first, second = random_id("first"), random_id("second")

    await processor.process_batch([_event(processor, first), _event(processor, second)])
    assert probe.write_still_open == [True, True]
    assert await _kept(factory, first, second) == {first, second}

    undone, boom = random_id("undone"), random_id("boom")
    with pytest.raises(RuntimeError, match="a bug after the write"):
        await processor.process_batch([_event(processor, undone), _event(processor, boom)])
    assert await _kept(factory, undone, boom) == set()


async def test_a_handler_outside_a_transaction_that_publishes_is_a_bug(
    settings: Settings, sessions: tuple[SessionFactory, list[int]]
) -> None:
    factory, _ = sessions
    processor = _processor(settings, factory, Probe())
    account_id = random_id("talk")
    with pytest.raises(PublishedOutsideTransaction, match="1 message"):
        await processor.process(_event(processor, account_id))
    assert await _kept(factory, account_id) == {account_id}  # committed: cannot be undone


def test_a_route_outside_a_transaction_cannot_claim_its_event() -> None:
    with pytest.raises(ValueError, match="cannot claim"):
        EventRoute(LedgerAccountOpened, Probe().handle, in_transaction=False)
