"""Reading the ledger's transactions by id, and saying why one is not as expected:
what the cross checks of orders, fulfillment items and returns share."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger.db import point_transactions as transactions
from shared.tools.invariants.model import Facts, among


async def ledger_rows(connection: AsyncConnection, ids: Facts) -> dict[str, Any]:
    """The ledger's transactions of these ids."""
    rows = await connection.execute(
        select(
            transactions.c.id,
            transactions.c.account_id,
            transactions.c.amount,
            transactions.c.status,
            transactions.c.committed_amount,
            transactions.c.reverses,
        ).where(among(transactions.c.id, ids))
    )
    return {row.id: row for row in rows}


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
