"""A property-based run (hypothesis) of many random ledger operations against
the real PostgreSQL, through the same command pipeline the consumer uses.

After every step: balance = sum of committed postings, holds = open pending
spends, available = balance - holds and never below the account's floor, the
unit's balances sum to zero, and no transaction is reversed beyond its amount.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from contracts.envelope import Actor, ActorKind, Message, new_envelope
from contracts.ledger import (
    CloseLedgerAccount,
    CommitPointTransaction,
    CreatePointTransaction,
    OpenLedgerAccount,
    PointTransactionKind,
    ReversePointTransaction,
    VoidPointTransaction,
)
from services.ledger.db import ledger_accounts, point_transactions
from shared.runtime.codec import decode, encode
from shared.runtime.commands import CommandProcessor
from shared.runtime.settings import Settings
from tests.ledger_client import assert_invariants, ledger_instance
from tests.random_refs import random_id

ADMIN = Actor(kind=ActorKind.ADMIN, id="admin-prop")
OWNER = "cust-prop"

amounts = st.integers(min_value=-150, max_value=150).filter(lambda n: n != 0)
operations = st.one_of(
    st.tuples(
        st.just("create"),
        st.integers(0, 1),
        amounts,
        st.sampled_from(["pending", "committed"]),
        st.booleans(),  # as the customer
    ),
    st.tuples(st.just("commit"), st.integers(0, 50), st.one_of(st.none(), st.integers(1, 150))),
    st.tuples(st.just("void"), st.integers(0, 50)),
    st.tuples(st.just("reverse"), st.integers(0, 50), st.one_of(st.none(), st.integers(1, 150))),
    st.tuples(st.just("close"), st.integers(0, 1)),
)


@dataclass
class Run:
    processor: CommandProcessor
    sessions: Any
    unit: str
    accounts: list[str]
    transactions: list[tuple[str, str, int]] = field(default_factory=list)  # account, id, amount

    async def send(self, key: str, payload: Message, actor: Actor = ADMIN) -> None:
        envelope = new_envelope(payload, actor=actor)
        await self.processor.process(decode(encode(envelope), self.processor.known_types), key)

    async def exists(self, transaction_id: str) -> bool:
        async with self.sessions() as session:
            found = await session.scalar(
                select(func.count()).where(point_transactions.c.id == transaction_id)
            )
        return bool(found)

    def pick(self, index: int) -> tuple[str, str, int] | None:
        return self.transactions[index % len(self.transactions)] if self.transactions else None

    async def apply(self, op: tuple[Any, ...]) -> None:
        name = op[0]
        if name == "create":
            _, which, amount, status, as_customer = op
            account = self.accounts[which]
            kind = PointTransactionKind.SPEND if amount < 0 else PointTransactionKind.DEPOSIT
            tx = random_id("tx")
            actor = Actor(kind=ActorKind.CUSTOMER, id=OWNER) if as_customer else ADMIN
            payload = CreatePointTransaction(
                account_id=account, transaction_id=tx, amount=amount, kind=kind, status=status
            )
            await self.send(account, payload, actor)
            if await self.exists(tx):  # later operations pick among real transactions
                self.transactions.append((account, tx, amount))
            return
        if name == "close":
            account = self.accounts[op[1]]
            await self.send(account, CloseLedgerAccount(account_id=account))
            return
        picked = self.pick(op[1])
        if picked is None:
            return
        account, tx, amount = picked
        if name == "commit":
            part = None if op[2] is None else (op[2] if amount > 0 else -op[2])
            await self.send(
                account, CommitPointTransaction(account_id=account, transaction_id=tx, amount=part)
            )
        elif name == "void":
            await self.send(account, VoidPointTransaction(account_id=account, transaction_id=tx))
        else:
            reverse = ReversePointTransaction(
                account_id=account,
                transaction_id=tx,
                reversal_transaction_id=random_id("rev"),
                amount=op[2],
            )
            await self.send(account, reverse)

    async def check(self) -> None:
        await assert_invariants(self.sessions, self.unit, *self.accounts)
        async with self.sessions() as session:
            rows = (
                await session.execute(
                    select(
                        ledger_accounts.c.balance,
                        ledger_accounts.c.holds,
                        ledger_accounts.c.allow_negative,
                        ledger_accounts.c.negative_limit,
                    ).where(ledger_accounts.c.id.in_(self.accounts))
                )
            ).all()
            over_reversed = await session.scalar(
                select(func.count())
                .where(point_transactions.c.unit == self.unit)
                .where(
                    point_transactions.c.reversed_amount
                    > func.abs(point_transactions.c.committed_amount)
                )
            )
        for row in rows:
            floor = -(row.negative_limit or 0) if row.allow_negative else 0
            assert row.balance - row.holds >= floor, row
            assert row.holds >= 0
        assert over_reversed == 0


async def scenario(settings: Settings, ops: list[tuple[Any, ...]]) -> None:
    instance = ledger_instance(settings, pool_size=2)
    unit = random_id("prop")
    run = Run(instance.processor, instance.sessions, unit, [random_id("acct"), random_id("acct")])
    try:
        await run.send(
            run.accounts[0],
            OpenLedgerAccount(account_id=run.accounts[0], unit=unit, customer_id=OWNER),
        )
        await run.send(
            run.accounts[1],
            OpenLedgerAccount(
                account_id=run.accounts[1], unit=unit, allow_negative=True, negative_limit=50
            ),
        )
        for account in run.accounts:  # start with funds, so that spends mostly succeed
            deposit = CreatePointTransaction(
                account_id=account,
                transaction_id=random_id("tx"),
                amount=300,
                kind=PointTransactionKind.DEPOSIT,
            )
            await run.send(account, deposit)
        for op in ops:
            await run.apply(op)
            await run.check()
    finally:
        await instance.dispose()


@hypothesis_settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operations, min_size=1, max_size=25))
def test_random_operations_keep_every_ledger_invariant(
    settings: Settings, ops: list[tuple[Any, ...]]
) -> None:
    asyncio.run(scenario(settings, ops))
