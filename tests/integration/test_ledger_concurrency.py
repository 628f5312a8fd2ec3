"""Two ledger instances racing on one account never overspend: the account row
lock (and the version check behind it) serialises them in PostgreSQL."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from contracts.envelope import Actor, ActorKind, Envelope, Message, new_envelope
from contracts.ledger import CreatePointTransaction, OpenLedgerAccount, PointTransactionKind
from services.ledger.db import ledger_accounts, point_transactions
from shared.runtime.settings import Settings
from tests.ledger_client import assert_invariants, ledger_instance
from tests.random_refs import random_id

ADMIN = Actor(kind=ActorKind.ADMIN, id="admin-race")


async def test_racing_spends_on_one_account_never_overspend(settings: Settings) -> None:
    first, second = ledger_instance(settings, pool_size=10), ledger_instance(settings, pool_size=10)
    sessions = first.sessions
    unit = random_id("points")
    account_id = random_id("acct")
    opening = OpenLedgerAccount(account_id=account_id, unit=unit)
    await first.handle(account_id, new_envelope(opening, actor=ADMIN))
    deposit = CreatePointTransaction(
        account_id=account_id,
        transaction_id=random_id("tx"),
        amount=100,
        kind=PointTransactionKind.DEPOSIT,
    )
    await first.handle(account_id, new_envelope(deposit, actor=ADMIN))

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
        *((first if i % 2 else second).handle(account_id, e) for i, e in enumerate(racers))
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
    await first.dispose()
    await second.dispose()
