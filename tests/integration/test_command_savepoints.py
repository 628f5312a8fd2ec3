"""A command handled alone runs its handler without a savepoint, and a refusal still
undoes exactly the handler's changes.

The handler of a command in a transaction of its own (or in a batch of one) runs
without the savepoint that undoes a refused handler's changes: two round trips fewer
for every accepted command. A refused one gives up that transaction and is handled
again with the savepoint, so what stays is what always stayed: its inbox row and its
result, and what a ``RejectAndKeep`` keeps; never the handler's own writes.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.ledger import OpenLedgerAccount
from contracts.topics import LEDGER_COMMAND_RESULTS
from services.ledger.db import ledger_accounts
from shared.runtime.codec import Incoming, decode, encode
from shared.runtime.commands import (
    Accepted,
    CommandProcessor,
    CommandRoute,
    HandlerContext,
    RejectAndKeep,
)
from shared.runtime.messaging_tables import inbox
from shared.runtime.rules import Rejected
from shared.runtime.service import ServiceRuntime
from tests.kafka_tools import command
from tests.random_refs import random_id
from tests.statements import statements_sent

UNIT = "points:savepoints"


async def _system_account(session: AsyncSession, account_id: str) -> None:
    await session.execute(ledger_accounts.insert().values(id=account_id, unit=UNIT, kind="system"))


async def writes_then_decides(
    session: AsyncSession, incoming: Incoming[Any], _: HandlerContext
) -> Accepted:
    """Writes an account named after the command, then refuses if the id says so
    (``refuse-``), or refuses and keeps a second write (``keep-``)."""
    account_id = incoming.payload.account_id
    await _system_account(session, account_id)
    if account_id.startswith("refuse-"):
        raise Rejected("account_exists", "The test refuses it.")
    if account_id.startswith("keep-"):

        async def keep(kept: AsyncSession) -> None:
            await _system_account(kept, f"{account_id}-kept")

        raise RejectAndKeep(Rejected("account_exists", "Refused, one write kept."), keep)
    return Accepted(produced={"account_id": account_id})


def _processor(ledger: ServiceRuntime) -> CommandProcessor:
    return CommandProcessor(
        service="ledger",
        settings=ledger.settings,
        sessions=ledger.sessions,
        routes={"OpenLedgerAccount": CommandRoute(OpenLedgerAccount, writes_then_decides)},
        results_topic=LEDGER_COMMAND_RESULTS,
        after_commit=lambda: None,
    )


def savepoints_taken(ledger: ServiceRuntime) -> AbstractContextManager[list[str]]:
    return statements_sent(ledger.engine, lambda _connection, sql: sql.startswith("SAVEPOINT"))


async def _state(ledger: ServiceRuntime, account_id: str, key: str) -> tuple[set[str], Any]:
    async with ledger.sessions() as session:
        accounts = set(
            (
                await session.scalars(
                    select(ledger_accounts.c.id).where(ledger_accounts.c.id.like(f"{account_id}%"))
                )
            ).all()
        )
        result = await session.scalar(
            select(inbox.c.result).where(
                (inbox.c.consumer == "ledger.commands") & (inbox.c.idempotency_key == key)
            )
        )
    return accounts, result


@pytest.mark.parametrize("alone", [True, False], ids=["process", "batch of one"])
@pytest.mark.parametrize("prefix", ["accept", "refuse", "keep"])
async def test_only_a_refused_command_takes_a_savepoint_and_keeps_what_it_always_kept(
    ledger: ServiceRuntime, alone: bool, prefix: str
) -> None:
    processor = _processor(ledger)
    account_id = random_id(prefix)
    envelope = command(OpenLedgerAccount(account_id=account_id, unit=UNIT))
    incoming = decode(encode(envelope), processor.known_types)

    with savepoints_taken(ledger) as taken:
        if alone:
            await processor.process(incoming, account_id)
        else:
            await processor.process_batch([(incoming, account_id)])

    accounts, result = await _state(ledger, account_id, envelope.idempotency_key)
    if prefix == "accept":
        assert taken == []
        assert accounts == {account_id}
        assert (result["status"], result["produced"]) == ("accepted", {"account_id": account_id})
        return
    assert len(taken) == 1  # the second try's, which undid the handler's write
    assert (result["status"], result["code"]) == ("rejected", "account_exists")
    assert accounts == ({f"{account_id}-kept"} if prefix == "keep" else set())
