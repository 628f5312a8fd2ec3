"""Reading the ledger's transactions by id, and saying why one is not as expected:
what the cross checks of orders, fulfillment items and returns share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger.db import point_transactions as transactions
from shared.tools.invariants.model import Facts, among
from shared.tools.invariants.rows import rows_by

Problem = Callable[[Any | None, Any], str | None]
"""Why the ledger's transaction (None: there is none) is not what a fact expects."""


async def ledger_rows(connection: AsyncConnection, ids: Facts) -> dict[str, Any]:
    """The ledger's transactions of these ids."""
    query = select(
        transactions.c.id,
        transactions.c.account_id,
        transactions.c.amount,
        transactions.c.status,
        transactions.c.committed_amount,
        transactions.c.reverses,
    ).where(among(transactions.c.id, ids))
    return await rows_by(connection, query)


def committed_problem(row: Any | None, account_id: str, amount: int) -> str | None:
    """Why ``row`` is not a transaction of ``account_id`` committed for ``amount``."""
    if row is None:
        return "is not in the ledger"
    if row.account_id != account_id:
        return f"is on ledger account {row.account_id}, not {account_id}"
    if row.status != "committed":
        return f"is {row.status} in the ledger"
    if row.committed_amount != amount:
        return f"is committed for {row.committed_amount}, not {amount}"
    return None


async def ledger_problems(
    connection: AsyncConnection, facts: Facts, problem: Problem
) -> list[tuple[str, Any, str]]:
    """The facts (by transaction id) whose ledger transaction is not as they expect:
    the transaction id, the fact and why, in the order of ``facts``."""
    ledger = await ledger_rows(connection, facts)
    found = []
    for transaction_id, fact in facts.items():
        why = problem(ledger.get(transaction_id), fact)
        if why is not None:
            found.append((transaction_id, fact, why))
    return found


async def done_in_ledger(connection: AsyncConnection, facts: Facts, problem: Problem) -> Facts:
    """The facts (by transaction id) whose ledger transaction is as they expect."""
    wrong = {found[0] for found in await ledger_problems(connection, facts, problem)}
    return {key: fact for key, fact in facts.items() if key not in wrong}
