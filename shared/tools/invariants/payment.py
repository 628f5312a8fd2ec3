"""No goods without money.

- Every pending spend and store-credit hold that pays a checked-out order is bound
  to that order in the ledger (so nothing but the order's own fulfillment can use
  it, and it cannot expire before it is captured).
- No fulfillment gives anything (a manual item fulfilled, points deposited or
  earned sent to the ledger) while one of the order's captures is not done.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, exists, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from services.fulfillment.db import items
from services.ledger.db import point_transactions as transactions
from services.order.db import applied_credits, line_items
from shared.tools.invariants.checkouts import checked_out_captures, checked_out_point_lines
from shared.tools.invariants.model import (
    Connections,
    CrossCheck,
    Facts,
    LocalCheck,
    Scope,
    Violation,
    among,
    violation,
)
from shared.tools.invariants.rows import keyed


async def paying_transactions(connections: Connections) -> Facts:
    """Every spend and hold that pays a checked-out order, with the order."""
    order = connections["order"]
    spends = await order.execute(
        checked_out_point_lines(line_items.c.transaction_id.label("id"), line_items.c.order_id)
    )
    holds = await order.execute(
        checked_out_captures(
            applied_credits.c.hold_transaction_id.label("id"), applied_credits.c.order_id
        )
    )
    return keyed([*spends, *holds])


async def bound_to_their_orders(connection: AsyncConnection, facts: Facts) -> list[Violation]:
    bound = {
        row.id: row.bound_order_id
        for row in await connection.execute(
            select(transactions.c.id, transactions.c.bound_order_id).where(
                among(transactions.c.id, facts)
            )
        )
    }
    found = []
    for transaction_id, paying in facts.items():
        if bound.get(transaction_id) == paying.order_id:
            continue
        where = (
            "is not in the ledger"
            if transaction_id not in bound
            else f"is bound to {bound[transaction_id] or 'no order'} in the ledger"
        )
        found.append(
            violation(
                "checkout_hold_not_bound",
                ("order", "ledger"),
                f"Order {paying.order_id} is checked out on transaction {transaction_id}, "
                f"which {where}.",
                subject=transaction_id,
                order_id=paying.order_id,
                transaction_id=transaction_id,
            )
        )
    return found


_GIVING = ((items.c.kind == "manual") & (items.c.status == "fulfilled")) | (
    items.c.kind.in_(("deposit", "points_earned")) & items.c.status.in_(("committing", "fulfilled"))
)
"""An item that gives the customer something: goods shipped, points sent."""


async def goods_without_payment(connection: AsyncConnection, _: Scope) -> list[Violation]:
    capture = aliased(items)
    uncaptured = exists().where(
        and_(
            capture.c.order_id == items.c.order_id,
            capture.c.kind.in_(("points_spent", "store_credit")),
            capture.c.status != "fulfilled",
        )
    )
    rows: Any = await connection.execute(
        select(items.c.id, items.c.order_id, items.c.kind, items.c.status).where(
            _GIVING, uncaptured
        )
    )
    return [
        violation(
            "goods_without_payment",
            "fulfillment",
            f"Fulfillment item {row.id} ({row.kind}) of order {row.order_id} is {row.status}, "
            "but a spend or hold that pays the order is not captured.",
            order_id=row.order_id,
            fulfillment_item_id=row.id,
        )
        for row in rows
    ]


LOCAL = (
    LocalCheck(
        ("goods_without_payment",),
        ("fulfillment",),
        "nothing of an order is given (goods shipped, points deposited or earned) before "
        "every spend and hold that pays it is captured",
        goods_without_payment,
    ),
)
CROSS = (
    CrossCheck(
        ("checkout_hold_not_bound",),
        "order",
        "ledger",
        "every spend and hold that pays a checked-out order is bound to that order in the "
        "ledger (it cannot expire or be used by anyone else)",
        paying_transactions,
        bound_to_their_orders,
    ),
)
