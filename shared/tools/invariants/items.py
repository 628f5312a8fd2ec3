"""Fulfillment items and the ledger agree on what was done.

- A fulfilled auto item (points spent, a store credit captured, a deposit,
  points earned) has its transaction committed in the ledger, on its account,
  for its amount: fulfillment marks it fulfilled only on the ledger's answer.
- An item the ledger has done is not left ``committing`` (the answer was lost)
  or ``failed`` (fulfillment believes it was refused).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.fulfillment.db import items
from shared.tools.invariants.model import (
    Connections,
    CrossCheck,
    Facts,
    Violation,
    among,
    violation,
)
from shared.tools.invariants.rows import rows_by
from shared.tools.invariants.transactions import committed_problem, done_in_ledger, ledger_problems

_AUTO = items.c.kind != "manual"
_UNANSWERED = ("committing", "failed")


def _committed_for_item(row: Any | None, item: Any) -> str | None:
    return committed_problem(row, item.account_id, item.amount)


async def fulfilled_items(connections: Connections) -> Facts:
    return await rows_by(
        connections["fulfillment"],
        select(items.c.id, items.c.order_id, items.c.kind, items.c.account_id)
        .add_columns(items.c.transaction_id, items.c.amount)
        .where(_AUTO, items.c.status == "fulfilled", items.c.transaction_id.is_not(None)),
        "transaction_id",
    )


async def items_in_ledger(connection: AsyncConnection, facts: Facts) -> list[Violation]:
    return [
        violation(
            "fulfilled_item_not_in_ledger",
            ("fulfillment", "ledger"),
            f"Fulfillment item {item.id} ({item.kind}) of order {item.order_id} is "
            f"fulfilled, but its transaction {transaction_id} {problem}.",
            subject=transaction_id,
            order_id=item.order_id,
            fulfillment_item_id=item.id,
            transaction_id=transaction_id,
        )
        for transaction_id, item, problem in await ledger_problems(
            connection, facts, _committed_for_item
        )
    ]


async def items_done_in_ledger(connections: Connections) -> Facts:
    """Unanswered or failed auto items whose transaction the ledger has committed as asked."""
    waiting = await rows_by(
        connections["fulfillment"],
        select(items.c.id, items.c.order_id, items.c.kind, items.c.status)
        .add_columns(items.c.account_id, items.c.transaction_id, items.c.amount)
        .where(_AUTO, items.c.status.in_(_UNANSWERED), items.c.transaction_id.is_not(None)),
        "transaction_id",
    )
    if not waiting:
        return {}
    done = await done_in_ledger(connections["ledger"], waiting, _committed_for_item)
    return {item.id: item for item in done.values()}


async def items_answered(connection: AsyncConnection, facts: Facts) -> list[Violation]:
    rows = await connection.execute(
        select(items.c.id, items.c.status).where(
            among(items.c.id, facts), items.c.status.in_(_UNANSWERED)
        )
    )
    found = []
    for row in rows:
        item = facts[row.id]
        found.append(
            violation(
                "fulfillment_item_unconfirmed",
                ("ledger", "fulfillment"),
                f"The ledger committed transaction {item.transaction_id} for fulfillment item "
                f"{row.id} ({item.kind}) of order {item.order_id}, but the item is still "
                f"{row.status}.",
                subject=row.id,
                order_id=item.order_id,
                fulfillment_item_id=row.id,
                transaction_id=item.transaction_id,
            )
        )
    return found


CHECKS = (
    CrossCheck(
        ("fulfilled_item_not_in_ledger",),
        "fulfillment",
        "ledger",
        "every fulfilled auto item has its transaction committed in the ledger for its amount",
        fulfilled_items,
        items_in_ledger,
    ),
    CrossCheck(
        ("fulfillment_item_unconfirmed",),
        "ledger",
        "fulfillment",
        "no auto item the ledger has done stays committing or failed",
        items_done_in_ledger,
        items_answered,
    ),
)
