"""Two ledger instances racing on one account never overspend: the account row
lock (and the version check behind it) serialises them in PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select

from contracts.envelope import Actor, ActorKind, Envelope, Message, new_envelope
from contracts.ledger import CreatePointTransaction, OpenLedgerAccount, PointTransactionKind
from services.ledger.app import definition
from services.ledger.db import ledger_accounts, point_transactions
from shared.codec import decode, encode
from shared.commands import CommandProcessor
from shared.db import create_engine, create_session_factory
from shared.settings import Settings
from tests.ledger_client import assert_invariants
from tests.random_refs import random_id

ADMIN = Actor(kind=ActorKind.ADMIN, id="admin-race")


def instance(settings: Settings) -> tuple[Any, Any, CommandProcessor]:
    """One more ledger instance: its own connection pool, the same database."""
    engine = create_engine(settings.database_url_for("ledger"), pool_size=10)
    sessions = create_session_factory(engine)
    processor = CommandProcessor(
        service="ledger",
        settings=settings,
        sessions=sessions,
        routes=definition.routes,
        results_topic=definition.results,
        after_commit=lambda: None,
    )
    return engine, sessions, processor


async def handle(processor: CommandProcessor, key: str, envelope: Envelope[Message]) -> None:
    await processor.process(decode(encode(envelope), processor.known_types), key)


async def test_racing_spends_on_one_account_never_overspend(settings: Settings) -> None:
    (engine_a, sessions, first), (engine_b, _, second) = instance(settings), instance(settings)
    unit = random_id("points")
    account_id = random_id("acct")
    await handle(
        first,
        account_id,
        new_envelope(OpenLedgerAccount(account_id=account_id, unit=unit), actor=ADMIN),
    )
    deposit = CreatePointTransaction(
        account_id=account_id,
        transaction_id=random_id("tx"),
        amount=100,
        kind=PointTransactionKind.DEPOSIT,
    )
    await handle(first, account_id, new_envelope(deposit, actor=ADMIN))

    def spend(status: str) -> Envelope[Message]:
        payload = CreatePointTransaction(
            account_id=account_id,
            transaction_id=random_id("tx"),
            amount=-15,
            kind=PointTransactionKind.SPEND,
            status=status,  # type: ignore[arg-type]
        )
        return new_envelope(payload, actor=ADMIN)

    racers = [spend("committed") for _ in range(8)] + [spend("pending") for _ in range(8)]
    await asyncio.gather(
        *(handle(first if i % 2 else second, account_id, e) for i, e in enumerate(racers))
    )

    async with sessions() as session:
        balance, holds = (
            await session.execute(
                select(ledger_accounts.c.balance, ledger_accounts.c.holds).where(
                    ledger_accounts.c.id == account_id
                )
            )
        ).one()
        accepted = await session.scalar(
            select(func.count())
            .where(point_transactions.c.account_id == account_id)
            .where(point_transactions.c.kind == "spend")
        )
    assert accepted == 6  # 6 x 15 = 90 of 100; the seventh would overspend
    assert balance - holds == 10
    assert balance >= 0
    await assert_invariants(sessions, unit, account_id)
    await engine_a.dispose()
    await engine_b.dispose()
